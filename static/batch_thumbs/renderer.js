/**
 * One WebGL renderer for a whole run, and the pure steps around it: framing, readiness,
 * capture and blank detection.
 *
 * The renderer is created once with `preserveDrawingBuffer` and a fixed output size that does
 * not depend on the window (the page shows the same canvas scaled down with CSS). Each asset
 * gets a fresh Scene lit by a PMREM environment made once from RoomEnvironment, so metallic PBR
 * models do not render as black silhouettes. After each asset everything it created is disposed.
 */
import {
	Box3,
	Color,
	DirectionalLight,
	HemisphereLight,
	Matrix4,
	NeutralToneMapping,
	PMREMGenerator,
	PerspectiveCamera,
	SRGBColorSpace,
	Scene,
	Vector3,
	WebGLRenderer,
} from 'three';
import { RoomEnvironment } from 'three/addons/environments/RoomEnvironment.js';

import { disposeObject, materialTextures } from './dispose.js';
import { BlankCaptureError, EmptySceneError, ThumbnailError, Reason } from './errors.js';
import { abortable, throwIfAborted } from './signals.js';

const DEFAULT_WIDTH = 1280;
const DEFAULT_HEIGHT = 800;
const DEFAULT_BACKGROUND = '#e8eaed';
const DEFAULT_FOV = 35;
const MAX_FRAMING_POINTS = 60000;

/**
 * Camera directions for the first take and each Retake, as azimuth/elevation in degrees
 * (azimuth 0 looks at the model's front, +Z in glTF).
 */
const VIEW_ANGLES = Object.freeze( [
	{ azimuth: 35, elevation: 22 },
	{ azimuth: - 35, elevation: 22 },
	{ azimuth: 0, elevation: 8 },
	{ azimuth: 90, elevation: 18 },
	{ azimuth: 215, elevation: 25 },
	{ azimuth: 20, elevation: 65 },
] );

const _vector = new Vector3();
const _matrix = new Matrix4();
const _box = new Box3();

let _sampleCanvas = null;

// ---------------------------------------------------------------------------------------------
// Renderer

/**
 * @typedef {Object} RenderContext
 * @property {WebGLRenderer} renderer
 * @property {HTMLCanvasElement} canvas
 * @property {import('three').Texture} environment - Shared PMREM environment map.
 * @property {number} width
 * @property {number} height
 * @property {string} rendererString - The GPU / WebGL renderer string.
 * @property {number} maxTextureSize
 * @property {function(number, number): void} setSize - Change the output size.
 * @property {function(): void} dispose
 */

/**
 * Create the one renderer for a run.
 *
 * @param {Object} [options]
 * @param {number} [options.width=1280] - Output width in pixels.
 * @param {number} [options.height=800] - Output height in pixels.
 * @param {HTMLCanvasElement} [options.canvas] - Canvas to draw into (a new one otherwise).
 * @param {boolean} [options.antialias=true] - MSAA; off is ~25% faster on software GL.
 * @return {RenderContext}
 * @throws {ThumbnailError} reason `render_error` when WebGL is unavailable.
 */
function createRenderer( { width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT, canvas, antialias = true } = {} ) {

	const target = canvas || document.createElement( 'canvas' );
	let renderer;
	try {

		renderer = new WebGLRenderer( {
			canvas: target,
			antialias,
			alpha: false,
			preserveDrawingBuffer: true,
			powerPreference: 'high-performance',
		} );

	} catch ( error ) {

		throw new ThumbnailError( Reason.RENDER_ERROR, `WebGL is not available: ${error.message}`, { cause: error } );

	}

	renderer.setPixelRatio( 1 );
	renderer.setSize( width, height, false );
	renderer.outputColorSpace = SRGBColorSpace;
	renderer.toneMapping = NeutralToneMapping;
	renderer.toneMappingExposure = 1;

	const pmrem = new PMREMGenerator( renderer );
	const room = new RoomEnvironment();
	const environment = pmrem.fromScene( room, 0.04 ).texture;
	room.dispose();
	pmrem.dispose();

	const gl = renderer.getContext();
	const context = {
		renderer,
		canvas: target,
		environment,
		width,
		height,
		rendererString: getRendererString( gl ),
		maxTextureSize: renderer.capabilities.maxTextureSize,
		setSize( newWidth, newHeight ) {

			context.width = newWidth;
			context.height = newHeight;
			renderer.setSize( newWidth, newHeight, false );

		},
		isContextLost: () => gl.isContextLost(),
		dispose() {

			environment.dispose();
			renderer.dispose();

		},
	};
	return context;

}

/**
 * The unmasked GPU renderer string when the browser exposes it, else the masked one.
 *
 * @param {WebGL2RenderingContext|WebGLRenderingContext} gl
 * @return {string}
 */
function getRendererString( gl ) {

	const info = gl.getExtension( 'WEBGL_debug_renderer_info' );
	const value = info ? gl.getParameter( info.UNMASKED_RENDERER_WEBGL ) : gl.getParameter( gl.RENDERER );
	return String( value || 'unknown' );

}

/**
 * Plain copy of `renderer.info` (memory and last-frame counters).
 *
 * @param {WebGLRenderer} renderer
 * @return {{memory: {geometries: number, textures: number}, render: Object, programs: number}}
 */
function getRendererInfo( renderer ) {

	return {
		memory: { ...renderer.info.memory },
		render: { ...renderer.info.render },
		programs: renderer.info.programs ? renderer.info.programs.length : 0,
	};

}

// ---------------------------------------------------------------------------------------------
// Scene

/**
 * A valid CSS hex colour, or null.
 *
 * @param {unknown} value
 * @return {string|null}
 */
function parseBackground( value ) {

	if ( typeof value !== 'string' ) return null;
	const match = value.trim().match( /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i );
	if ( ! match ) return null;
	const hex = match[ 1 ].length === 3 ? match[ 1 ].replace( /./g, ( c ) => c + c ) : match[ 1 ];
	return `#${hex.toLowerCase()}`;

}

/**
 * A fresh scene for one asset: background colour and the shared environment map. Fixed
 * lights are added only for models whose materials ignore image-based lighting.
 *
 * @param {import('three').Object3D} model
 * @param {{background?: string, environment?: import('three').Texture}} options
 * @return {Scene}
 */
function createScene( model, { background = DEFAULT_BACKGROUND, environment = null } = {} ) {

	const scene = new Scene();
	scene.background = new Color( parseBackground( background ) || DEFAULT_BACKGROUND );
	scene.environment = environment;
	scene.add( model );
	if ( needsLights( model ) ) {

		scene.add( new HemisphereLight( 0xffffff, 0x8d8d8d, 1.6 ) );
		const key = new DirectionalLight( 0xffffff, 1.8 );
		key.position.set( 1, 2, 3 );
		scene.add( key );

	}

	scene.updateMatrixWorld( true );
	return scene;

}

/**
 * Whether the model has lit materials that do not use the environment map (Phong, Lambert,
 * Toon — what OBJ/MTL and FBX produce).
 *
 * @param {import('three').Object3D} model
 * @return {boolean}
 */
function needsLights( model ) {

	let found = false;
	model.traverse( ( node ) => {

		if ( found || ! node.material ) return;
		for ( const material of Array.isArray( node.material ) ? node.material : [ node.material ] ) {

			if ( material && ( material.isMeshPhongMaterial || material.isMeshLambertMaterial || material.isMeshToonMaterial ) ) found = true;

		}

	} );
	return found;

}

/**
 * Remove and dispose everything the asset brought into the scene. The shared environment
 * map is kept.
 *
 * @param {Scene|null} scene
 * @param {RenderContext} [context]
 */
function disposeScene( scene, context ) {

	if ( ! scene ) return;
	const keep = new Set( context && context.environment ? [ context.environment ] : [] );
	for ( const child of [ ...scene.children ] ) {

		disposeObject( child, { keep } );
		if ( typeof child.dispose === 'function' ) child.dispose();

	}

	scene.clear();
	scene.environment = null;
	scene.background = null;

}

// ---------------------------------------------------------------------------------------------
// Framing (pure)

/**
 * World-space sample points of everything drawable under `root` (skinning and morph targets
 * applied), at most `maxPoints` of them.
 *
 * @param {import('three').Object3D} root
 * @param {number} [maxPoints]
 * @return {Float32Array} Packed x, y, z triples.
 * @throws {EmptySceneError} When there is no geometry to draw.
 */
function collectPoints( root, maxPoints = MAX_FRAMING_POINTS ) {

	root.updateMatrixWorld( true );
	const drawables = [];
	let total = 0;

	root.traverseVisible( ( node ) => {

		if ( ! ( node.isMesh || node.isPoints || node.isLine ) ) return;
		const position = node.geometry && node.geometry.attributes && node.geometry.attributes.position;
		if ( ! position || position.count === 0 ) return;
		const instances = node.isInstancedMesh ? node.count : 1;
		if ( instances === 0 ) return;
		drawables.push( node );
		total += node.isInstancedMesh ? instances * 8 : position.count;

	} );

	if ( total === 0 ) throw new EmptySceneError( 'Nothing to draw: the model has no meshes' );

	const stride = Math.max( 1, Math.ceil( total / maxPoints ) );
	const out = [];

	for ( const node of drawables ) {

		if ( node.isInstancedMesh ) {

			if ( ! node.geometry.boundingBox ) node.geometry.computeBoundingBox();
			for ( let i = 0; i < node.count; i += Math.max( 1, Math.floor( stride / 8 ) ) ) {

				node.getMatrixAt( i, _matrix );
				_matrix.premultiply( node.matrixWorld );
				for ( let c = 0; c < 8; c ++ ) {

					const box = node.geometry.boundingBox;
					_vector.set( c & 1 ? box.max.x : box.min.x, c & 2 ? box.max.y : box.min.y, c & 4 ? box.max.z : box.min.z ).applyMatrix4( _matrix );
					pushFinite( out, _vector );

				}

			}

			continue;

		}

		const position = node.geometry.attributes.position;
		for ( let i = 0; i < position.count; i += stride ) {

			if ( node.isMesh ) node.getVertexPosition( i, _vector );
			else _vector.fromBufferAttribute( position, i );
			_vector.applyMatrix4( node.matrixWorld );
			pushFinite( out, _vector );

		}

	}

	if ( out.length === 0 ) throw new EmptySceneError( 'Nothing to draw: the geometry has no valid positions' );
	const points = Float32Array.from( out );
	_box.setFromArray( points );
	if ( _box.isEmpty() || _box.getSize( _vector ).length() === 0 ) {

		throw new EmptySceneError( 'Nothing to draw: the model has a zero-size bounding box' );

	}

	return points;

}

function pushFinite( out, v ) {

	if ( Number.isFinite( v.x ) && Number.isFinite( v.y ) && Number.isFinite( v.z ) ) out.push( v.x, v.y, v.z );

}

/**
 * @typedef {Object} Framing
 * @property {number[]} position - Camera position [x, y, z].
 * @property {number[]} target - Look-at point [x, y, z].
 * @property {number[]} up
 * @property {number} fov - Vertical field of view in degrees.
 * @property {number} near
 * @property {number} far
 * @property {string} source - "auto" or "presentation".
 */

/**
 * Fit a camera tightly to the points: the smallest distance along the view direction (with a
 * lateral shift) at which every point lies inside the frame minus the margin, so the subject
 * fills the frame whatever its shape. Exact, not a bounding-sphere estimate.
 *
 * @param {Float32Array|number[]} points - Packed x, y, z triples (world space).
 * @param {Object} options
 * @param {number} options.aspect - Output width / height.
 * @param {number} [options.fov=35] - Vertical field of view in degrees.
 * @param {{azimuth: number, elevation: number}} [options.angle] - View direction in degrees.
 * @param {number} [options.margin=0.06] - Fraction of the half-frame kept empty on each side.
 * @return {Framing}
 */
function computeFraming( points, { aspect, fov = DEFAULT_FOV, angle = VIEW_ANGLES[ 0 ], margin = 0.06 } ) {

	const count = Math.floor( points.length / 3 );
	if ( count === 0 ) throw new EmptySceneError();

	let minX = Infinity, minY = Infinity, minZ = Infinity, maxX = - Infinity, maxY = - Infinity, maxZ = - Infinity;
	for ( let i = 0; i < count; i ++ ) {

		const x = points[ 3 * i ], y = points[ 3 * i + 1 ], z = points[ 3 * i + 2 ];
		if ( x < minX ) minX = x; if ( x > maxX ) maxX = x;
		if ( y < minY ) minY = y; if ( y > maxY ) maxY = y;
		if ( z < minZ ) minZ = z; if ( z > maxZ ) maxZ = z;

	}

	const center = [ ( minX + maxX ) / 2, ( minY + maxY ) / 2, ( minZ + maxZ ) / 2 ];
	const radius = Math.hypot( maxX - minX, maxY - minY, maxZ - minZ ) / 2;
	if ( ! ( radius > 0 ) ) throw new EmptySceneError( 'Nothing to draw: the model has a zero-size bounding box' );

	const az = angle.azimuth * Math.PI / 180;
	const el = angle.elevation * Math.PI / 180;
	// Unit vector from the model towards the camera.
	const back = [ Math.sin( az ) * Math.cos( el ), Math.sin( el ), Math.cos( az ) * Math.cos( el ) ];
	let worldUp = [ 0, 1, 0 ];
	if ( Math.abs( back[ 1 ] ) > 0.999 ) worldUp = [ 0, 0, - 1 ];
	const right = normalise( cross( worldUp, back ) );
	const up = cross( back, right );

	const fill = 1 - 2 * margin;
	const tanV = Math.tan( fov * Math.PI / 360 ) * fill;
	const tanH = Math.tan( fov * Math.PI / 360 ) * aspect * fill;

	// For each point in camera axes (x right, y up, z towards the camera), the camera at
	// distance D with lateral shift (sx, sy) sees it at (x - sx) / (D - z). Keeping every point
	// inside ±tan gives D >= (A - B) / (2 tan) with A = max(x + tan z), B = min(x - tan z), and
	// the optimal shift is (A + B) / 2. Same for y.
	let ax = - Infinity, bx = Infinity, ay = - Infinity, by = Infinity, zMax = - Infinity, zMin = Infinity;
	for ( let i = 0; i < count; i ++ ) {

		const px = points[ 3 * i ] - center[ 0 ], py = points[ 3 * i + 1 ] - center[ 1 ], pz = points[ 3 * i + 2 ] - center[ 2 ];
		const x = px * right[ 0 ] + py * right[ 1 ] + pz * right[ 2 ];
		const y = px * up[ 0 ] + py * up[ 1 ] + pz * up[ 2 ];
		const z = px * back[ 0 ] + py * back[ 1 ] + pz * back[ 2 ];
		ax = Math.max( ax, x + tanH * z ); bx = Math.min( bx, x - tanH * z );
		ay = Math.max( ay, y + tanV * z ); by = Math.min( by, y - tanV * z );
		zMax = Math.max( zMax, z ); zMin = Math.min( zMin, z );

	}

	let distance = Math.max( ( ax - bx ) / ( 2 * tanH ), ( ay - by ) / ( 2 * tanV ) );
	distance = Math.max( distance, zMax + radius * 0.02 );
	const sx = ( ax + bx ) / 2;
	const sy = ( ay + by ) / 2;

	const target = [ 0, 1, 2 ].map( ( k ) => center[ k ] + right[ k ] * sx + up[ k ] * sy );
	const position = [ 0, 1, 2 ].map( ( k ) => target[ k ] + back[ k ] * distance );
	const nearest = distance - zMax;
	const farthest = distance - zMin;

	return {
		position,
		target,
		up,
		fov,
		near: Math.max( nearest * 0.5, farthest * 1e-4 ),
		far: farthest * 1.5 + radius * 0.1,
		source: 'auto',
	};

}

/**
 * A framing from `presentation_params.camera` ({position, target, fov?}), with near/far set
 * from the model so nothing is clipped. Null when the params are missing or malformed.
 *
 * @param {Object|null|undefined} camera
 * @param {Float32Array|number[]} points
 * @return {Framing|null}
 */
function presentationFraming( camera, points ) {

	if ( ! camera || ! isVector( camera.position ) ) return null;
	const target = isVector( camera.target ) ? camera.target.map( Number ) : null;
	const position = camera.position.map( Number );
	if ( ! target ) return null;
	const direction = normalise( [ target[ 0 ] - position[ 0 ], target[ 1 ] - position[ 1 ], target[ 2 ] - position[ 2 ] ] );
	if ( ! direction.every( Number.isFinite ) ) return null;

	let nearest = Infinity, farthest = 0;
	for ( let i = 0; i < points.length; i += 3 ) {

		const depth = ( points[ i ] - position[ 0 ] ) * direction[ 0 ] + ( points[ i + 1 ] - position[ 1 ] ) * direction[ 1 ] + ( points[ i + 2 ] - position[ 2 ] ) * direction[ 2 ];
		nearest = Math.min( nearest, depth );
		farthest = Math.max( farthest, depth );

	}

	if ( ! ( farthest > 0 ) ) return null;
	const fov = Number( camera.fov );
	return {
		position,
		target,
		up: [ 0, 1, 0 ],
		fov: fov > 1 && fov < 179 ? fov : DEFAULT_FOV,
		near: nearest > 0 ? Math.max( nearest * 0.5, farthest * 1e-4 ) : farthest * 1e-4,
		far: farthest * 1.5,
		source: 'presentation',
	};

}

function isVector( value ) {

	return Array.isArray( value ) && value.length === 3 && value.every( ( v ) => Number.isFinite( Number( v ) ) );

}

function cross( a, b ) {

	return [ a[ 1 ] * b[ 2 ] - a[ 2 ] * b[ 1 ], a[ 2 ] * b[ 0 ] - a[ 0 ] * b[ 2 ], a[ 0 ] * b[ 1 ] - a[ 1 ] * b[ 0 ] ];

}

function normalise( v ) {

	const length = Math.hypot( v[ 0 ], v[ 1 ], v[ 2 ] );
	return [ v[ 0 ] / length, v[ 1 ] / length, v[ 2 ] / length ];

}

/**
 * A perspective camera set up from a framing.
 *
 * @param {Framing} framing
 * @param {number} aspect
 * @return {PerspectiveCamera}
 */
function createCamera( framing, aspect ) {

	const camera = new PerspectiveCamera( framing.fov, aspect, framing.near, framing.far );
	camera.position.fromArray( framing.position );
	camera.up.fromArray( framing.up );
	camera.lookAt( framing.target[ 0 ], framing.target[ 1 ], framing.target[ 2 ] );
	camera.updateMatrixWorld( true );
	return camera;

}

// ---------------------------------------------------------------------------------------------
// Readiness

/**
 * Resolve after `count` animation frames. In a hidden tab, where animation frames stop, fall
 * back to tasks so a batch keeps going.
 *
 * @param {number} [count=2]
 * @param {AbortSignal} [signal]
 * @return {Promise<void>}
 */
function nextFrames( count = 2, signal ) {

	const frame = () => new Promise( ( resolve ) => {

		let done = false;
		const finish = () => {

			if ( done ) return;
			done = true;
			document.removeEventListener( 'visibilitychange', onVisibility );
			resolve();

		};

		const onVisibility = () => {

			if ( document.hidden ) setTimeout( finish, 0 );

		};

		requestAnimationFrame( finish );
		if ( document.hidden ) setTimeout( finish, 0 );
		else document.addEventListener( 'visibilitychange', onVisibility );

	} );

	return abortable( ( async () => {

		for ( let i = 0; i < count; i ++ ) await frame();

	} )(), signal );

}

/**
 * Wait until the scene can be drawn completely: images decoded, textures uploaded, shader
 * programs compiled (KHR_parallel_shader_compile where available), then two frames.
 *
 * @param {RenderContext} context
 * @param {Scene} scene
 * @param {PerspectiveCamera} camera
 * @param {AbortSignal} [signal]
 * @return {Promise<void>}
 */
async function waitUntilReady( context, scene, camera, signal ) {

	const { renderer } = context;
	const textures = new Set();
	scene.traverse( ( node ) => {

		if ( ! node.material ) return;
		for ( const material of Array.isArray( node.material ) ? node.material : [ node.material ] ) {

			if ( material ) for ( const texture of materialTextures( material ) ) textures.add( texture );

		}

	} );

	const decodes = [];
	for ( const texture of textures ) {

		const image = texture.image;
		if ( image && typeof image.decode === 'function' && image instanceof HTMLImageElement ) {

			decodes.push( image.decode().catch( () => undefined ) );

		}

	}

	await abortable( Promise.all( decodes ), signal );
	throwIfAborted( signal );
	for ( const texture of textures ) {

		if ( texture !== context.environment ) renderer.initTexture( texture );

	}

	await abortable( renderer.compileAsync( scene, camera ), signal );
	await nextFrames( 2, signal );
	throwIfAborted( signal );

}

// ---------------------------------------------------------------------------------------------
// Capture

/**
 * @typedef {Object} ImageStats
 * @property {number} coverage - Fraction of sampled pixels that differ from the background.
 * @property {number} centerCoverage - The same for the central half of the image.
 * @property {number} deviation - Standard deviation of luminance (0–255).
 * @property {number} mean - Mean luminance (0–255).
 */

/**
 * Render and capture in the same task, then check the image is not blank.
 *
 * @param {RenderContext} context
 * @param {Scene} scene
 * @param {PerspectiveCamera} camera
 * @param {Object} [options]
 * @param {number} [options.quality=0.85] - JPEG quality 0..1.
 * @param {string} [options.background] - Background colour, for blank detection.
 * @return {{dataUrl: string, width: number, height: number, stats: ImageStats}}
 * @throws {BlankCaptureError|ThumbnailError}
 */
function renderAndCapture( context, scene, camera, { quality = 0.85, background = DEFAULT_BACKGROUND } = {} ) {

	const { renderer, canvas } = context;
	if ( context.isContextLost() ) throw new ThumbnailError( Reason.RENDER_ERROR, 'The WebGL context was lost' );
	renderer.render( scene, camera );
	const dataUrl = canvas.toDataURL( 'image/jpeg', quality );
	const stats = analyseImage( sampleCanvas( canvas ), parseBackground( background ) || DEFAULT_BACKGROUND );
	assertNotBlank( stats );
	return { dataUrl, width: canvas.width, height: canvas.height, stats };

}

/**
 * A downscaled copy of the canvas pixels (what the capture holds).
 *
 * @param {HTMLCanvasElement} canvas
 * @return {ImageData}
 */
function sampleCanvas( canvas ) {

	const width = 128;
	const height = Math.max( 1, Math.round( width * canvas.height / canvas.width ) );
	if ( ! _sampleCanvas ) _sampleCanvas = document.createElement( 'canvas' );
	_sampleCanvas.width = width;
	_sampleCanvas.height = height;
	const context2d = _sampleCanvas.getContext( '2d', { willReadFrequently: true } );
	context2d.drawImage( canvas, 0, 0, width, height );
	return context2d.getImageData( 0, 0, width, height );

}

/**
 * Pixel statistics of an image against its background colour (pure).
 *
 * @param {{data: Uint8ClampedArray, width: number, height: number}} image
 * @param {string} background - "#rrggbb".
 * @param {number} [tolerance=24] - Summed RGB difference counted as "not background".
 * @return {ImageStats}
 */
function analyseImage( image, background, tolerance = 24 ) {

	const { data, width, height } = image;
	const bg = parseInt( background.slice( 1 ), 16 );
	const br = ( bg >> 16 ) & 255, bgG = ( bg >> 8 ) & 255, bb = bg & 255;
	let differing = 0, centerDiffering = 0, centerTotal = 0, sum = 0, sumSquares = 0;
	const total = width * height;

	for ( let y = 0; y < height; y ++ ) {

		const inCenterRow = y >= height / 4 && y < height * 3 / 4;
		for ( let x = 0; x < width; x ++ ) {

			const i = 4 * ( y * width + x );
			const r = data[ i ], g = data[ i + 1 ], b = data[ i + 2 ];
			const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
			sum += luma;
			sumSquares += luma * luma;
			const differs = Math.abs( r - br ) + Math.abs( g - bgG ) + Math.abs( b - bb ) > tolerance;
			if ( differs ) differing ++;
			if ( inCenterRow && x >= width / 4 && x < width * 3 / 4 ) {

				centerTotal ++;
				if ( differs ) centerDiffering ++;

			}

		}

	}

	const mean = sum / total;
	return {
		coverage: differing / total,
		centerCoverage: centerTotal ? centerDiffering / centerTotal : 0,
		deviation: Math.sqrt( Math.max( 0, sumSquares / total - mean * mean ) ),
		mean,
	};

}

/**
 * Refuse near-uniform images and images where (almost) nothing differs from the background.
 *
 * @param {ImageStats} stats
 * @param {{minCoverage?: number, minDeviation?: number}} [limits]
 * @throws {BlankCaptureError}
 */
function assertNotBlank( stats, { minCoverage = 0.003, minDeviation = 2 } = {} ) {

	if ( stats.deviation < minDeviation ) {

		throw new BlankCaptureError( `The rendered image is blank (uniform, mean luminance ${Math.round( stats.mean )})` );

	}

	if ( stats.coverage < minCoverage ) {

		throw new BlankCaptureError( `The rendered image shows only the background (${( stats.coverage * 100 ).toFixed( 2 )}% of pixels differ)` );

	}

}

export {
	DEFAULT_WIDTH,
	DEFAULT_HEIGHT,
	DEFAULT_BACKGROUND,
	VIEW_ANGLES,
	createRenderer,
	getRendererString,
	getRendererInfo,
	parseBackground,
	createScene,
	disposeScene,
	collectPoints,
	computeFraming,
	presentationFraming,
	createCamera,
	nextFrames,
	waitUntilReady,
	renderAndCapture,
	sampleCanvas,
	analyseImage,
	assertNotBlank,
};
