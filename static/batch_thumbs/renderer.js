/**
 * One WebGL renderer for a whole run, the per-asset scene, and the wait until it can be drawn.
 * Framing (pure maths) lives in `framing.js`, readback and blank detection in `capture.js`;
 * both are re-exported here for existing importers.
 *
 * The renderer is created once with `preserveDrawingBuffer` and a fixed output size that does
 * not depend on the window (the page shows the same canvas scaled down with CSS). Each asset
 * gets a fresh Scene lit by the studio environment (environment.js: RoomEnvironment's PMREM,
 * baked), so metallic PBR models do not render as black silhouettes. After each asset
 * everything it created is disposed.
 */
import {
	Color,
	DataTexture,
	DirectionalLight,
	HemisphereLight,
	Mesh,
	MeshStandardMaterial,
	NeutralToneMapping,
	PerspectiveCamera,
	SRGBColorSpace,
	Scene,
	SphereGeometry,
	WebGLRenderer,
} from 'three';

import { disposeObject, materialTextures } from './dispose.js';
import { ThumbnailError, Reason } from './errors.js';
import { abortable, throwIfAborted } from './signals.js';
import { VIEW_ANGLES, collectPoints, computeFraming, createCamera, presentationFraming } from './framing.js';
import { analyseImage, assertNotBlank, renderAndCapture, sampleCanvas } from './capture.js';
import { capTextures } from './texture-cap.js';
import { stopwatch } from './stopwatch.js';
import { createEnvironment } from './environment.js';

const DEFAULT_WIDTH = 1280;
const DEFAULT_HEIGHT = 800;
const DEFAULT_BACKGROUND = '#e8eaed';

// ---------------------------------------------------------------------------------------------
// Renderer

/**
 * @typedef {Object} RenderContext
 * @property {WebGLRenderer} renderer
 * @property {HTMLCanvasElement} canvas
 * @property {import('three').Texture} environment - Shared PMREM environment map.
 * @property {'baked'|'generated'} environmentSource - Loaded from the baked file, or
 *   prefiltered when the page started (environment.js).
 * @property {number} width
 * @property {number} height
 * @property {string} rendererString - The GPU / WebGL renderer string.
 * @property {number} maxTextureSize
 * @property {function(number, number): void} setSize - Change the output size.
 * @property {import('three').Object3D|null} warm - What `warmUp` keeps (null before it ran).
 * @property {Map<Object, import('three').Material>} keptPrograms - Program → the one material
 *   kept to hold it across assets (see `disposeScene`).
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
 * @param {?import('./environment.js').BakedEnvironment} [options.environment] - The baked
 *   environment (environment.js `loadEnvironment`); prefiltered now when null.
 * @return {RenderContext}
 * @throws {ThumbnailError} reason `render_error` when WebGL is unavailable.
 */
function createRenderer( { width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT, canvas, antialias = true, environment: baked = null } = {} ) {

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

	const { texture: environment, source: environmentSource } = createEnvironment( renderer, baked );

	const gl = renderer.getContext();
	const context = {
		renderer,
		canvas: target,
		environment,
		environmentSource,
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
		warm: null,
		keptPrograms: new Map(),
		dispose() {

			for ( const material of context.keptPrograms.values() ) material.dispose();
			context.keptPrograms.clear();
			if ( context.warm ) disposeObject( context.warm );
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

/**
 * Do once per renderer what the first asset would otherwise pay for: compile and draw the
 * glTF materials most assets use (MeshStandardMaterial plain and with a base colour map, lit
 * by the environment map, as `createScene` lights them) and start the Draco and KTX2 decoders.
 *
 * The warm-up meshes are kept (never added to an asset's scene) until `context.dispose()`, so
 * their programs stay compiled: three.js frees a program when the last material using it is
 * disposed, which every asset's cleanup would otherwise do. The canvas is cleared afterwards.
 * Calling it again does nothing.
 *
 * @param {RenderContext} context
 * @return {Promise<{ms: number, programs: number}>} Time taken and programs compiled.
 */
async function warmUp( context ) {

	const started = performance.now();
	if ( context.warm ) return { ms: 0, programs: context.renderer.info.programs.length };
	const { renderer } = context;
	const texel = new DataTexture( new Uint8Array( [ 200, 200, 200, 255 ] ), 1, 1 );
	texel.colorSpace = SRGBColorSpace;
	texel.needsUpdate = true;
	const geometry = new SphereGeometry( 1, 8, 6 );
	const root = new Scene();
	root.add( new Mesh( geometry, new MeshStandardMaterial() ) );
	root.add( new Mesh( geometry, new MeshStandardMaterial( { map: texel } ) ) );
	const scene = createScene( root, { environment: context.environment } );
	const camera = new PerspectiveCamera( 45, context.width / context.height, 0.1, 10 );
	camera.position.set( 0, 0, 4 );
	const { warmDecoders } = await import( './loaders/gltf.js' ); // Loaders import this module.
	const starting = warmDecoders();
	await renderer.compileAsync( scene, camera );
	renderer.render( scene, camera );
	const gl = renderer.getContext();
	gl.readPixels( 0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array( 4 ) );
	renderer.clear();
	scene.remove( root );
	geometry.dispose(); // Programs outlive it; only the materials are kept (with their programs).
	context.warm = root;
	for ( const mesh of root.children ) context.keptPrograms.set( renderer.properties.get( mesh.material ).currentProgram, mesh.material );
	await starting;
	return { ms: Math.round( performance.now() - started ), programs: renderer.info.programs.length };

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
 * map is kept, and objects marked `userData.persistent` (they belong to the run, like Spark's
 * one SparkRenderer per WebGLRenderer) are only detached.
 *
 * @param {Scene|null} scene
 * @param {RenderContext} [context]
 */
function disposeScene( scene, context ) {

	if ( ! scene ) return;
	const keep = new Set( context && context.environment ? [ context.environment ] : [] );
	const holders = context && context.renderer ? programHolders( scene, context ) : [];
	for ( const material of holders ) keep.add( material );
	for ( const child of [ ...scene.children ] ) {

		if ( child.userData.persistent ) {

			scene.remove( child );
			continue;

		}

		disposeObject( child, { keep } ); // Also calls dispose() on objects that have one (lights).

	}

	for ( const material of holders ) dropTextures( material, context.renderer.properties );

	scene.clear();
	scene.environment = null;
	scene.background = null;

}

/**
 * Let go of a kept material's (already disposed) textures, so their images are not held in
 * memory for the rest of the run: the material's own properties and uniforms, and the uniforms
 * three.js made for its program.
 *
 * @param {import('three').Material} material
 * @param {Object} properties - The renderer's `properties`.
 */
function dropTextures( material, properties ) {

	for ( const key of Object.keys( material ) ) {

		if ( material[ key ] && material[ key ].isTexture ) material[ key ] = null;

	}

	for ( const uniforms of [ material.uniforms, properties.get( material ).uniforms ] ) {

		if ( ! uniforms ) continue;
		for ( const uniform of Object.values( uniforms ) ) {

			if ( uniform && uniform.value && uniform.value.isTexture ) uniform.value = null;

		}

	}

}

/** Programs kept compiled across assets, at most (one material each). */
const KEPT_PROGRAMS = 96;

/**
 * The scene's materials to keep (not dispose) so that their compiled programs outlive the
 * asset: one material for each program no kept material holds yet, up to `KEPT_PROGRAMS` per
 * renderer. three.js frees a program with the last material that uses it, and for shader
 * materials (Open Brush brushes) it also forgets the shader sources' ids, so without this every
 * asset compiled and linked its programs again and ANGLE rebuilt their pipelines at the draw
 * (~40 % of a plain or sample model's time on SwiftShader, bench/README.md). A kept material's
 * textures are still disposed, and it lets go of them (`dropTextures`).
 *
 * @param {Scene} scene
 * @param {RenderContext} context
 * @return {import('three').Material[]}
 */
function programHolders( scene, context ) {

	const held = context.keptPrograms || ( context.keptPrograms = new Map() );
	const { properties } = context.renderer;
	const chosen = [];
	scene.traverse( ( node ) => {

		if ( ! node.material ) return;
		for ( const material of Array.isArray( node.material ) ? node.material : [ node.material ] ) {

			const program = material && properties.get( material ).currentProgram;
			if ( ! program || held.has( program ) || held.size >= KEPT_PROGRAMS ) continue;
			held.set( program, material );
			chosen.push( material );

		}

	} );
	return chosen;

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
 * Wait until the scene can be drawn completely: images decoded (and capped to
 * `textureCap`, see texture-cap.js), textures uploaded, shader programs compiled
 * (KHR_parallel_shader_compile where available). No animation frame is awaited: the capture
 * draws and reads the drawing buffer in one task, so what the compositor shows does not matter.
 *
 * The GPU works asynchronously and lazily: on SwiftShader (ANGLE on Vulkan) texture uploads,
 * mipmaps and pipelines are mostly built at the first draw, so `textures` and `compile` are the
 * part the page sees and the capture's `draw` holds the rest.
 *
 * @param {RenderContext} context
 * @param {Scene} scene
 * @param {PerspectiveCamera} camera
 * @param {AbortSignal} [signal]
 * @param {{textureCap?: number}} [options] - Longest texture side to upload (Infinity: no cap).
 * @return {Promise<{decode: number, cap: number, textures: number, compile: number, capped: number}>}
 *   Milliseconds per step, and how many images were downscaled.
 */
async function waitUntilReady( context, scene, camera, signal, { textureCap = Infinity } = {} ) {

	const { renderer } = context;
	const { lap, times } = stopwatch();

	const textures = new Set();
	scene.traverse( ( node ) => {

		if ( ! node.material ) return;
		for ( const material of Array.isArray( node.material ) ? node.material : [ node.material ] ) {

			if ( material ) for ( const texture of materialTextures( material ) ) textures.add( texture );

		}

	} );
	textures.delete( context.environment );

	const decodes = [];
	for ( const texture of textures ) {

		const image = texture.image;
		if ( image && typeof image.decode === 'function' && image instanceof HTMLImageElement ) {

			decodes.push( image.decode().catch( () => undefined ) );

		}

	}

	await abortable( Promise.all( decodes ), signal );
	throwIfAborted( signal );
	lap( 'decode' );
	const capped = await abortable( capTextures( textures, textureCap, signal ), signal );
	throwIfAborted( signal );
	lap( 'cap' );
	for ( const texture of textures ) renderer.initTexture( texture );
	lap( 'textures' );

	await abortable( compileScene( renderer, scene, camera ), signal );
	throwIfAborted( signal );
	lap( 'compile' );
	return { ...times, capped };

}

/**
 * Compile the scene's programs before the draw. Only a driver with KHR_parallel_shader_compile
 * compiles while the page waits; without it (SwiftShader) `compileAsync` sleeps 10 ms before
 * its first check even when every program is already linked, and the draw would wait for a
 * link anyway, so the programs are made at once.
 *
 * @param {WebGLRenderer} renderer
 * @param {Scene} scene
 * @param {import('three').Camera} camera
 * @return {Promise<void>}
 */
async function compileScene( renderer, scene, camera ) {

	if ( renderer.extensions.has( 'KHR_parallel_shader_compile' ) ) {

		await renderer.compileAsync( scene, camera );
		return;

	}

	renderer.compile( scene, camera );

}

/**
 * The loader's own wait before capture, `model.userData.thumbnail.ready`, when it has one
 * (a splat cloud must be sorted for this camera and fully drawn once, or the capture shows
 * a cloud of dots or a half-sorted frame). Called again for each Retake's camera.
 *
 * @param {RenderContext} context
 * @param {import('three').Object3D} model
 * @param {Scene} scene
 * @param {import('three').Camera} camera
 * @param {AbortSignal} [signal]
 * @return {Promise<void>}
 */
async function waitForModel( context, model, scene, camera, signal ) {

	const thumbnail = model.userData && model.userData.thumbnail;
	if ( ! thumbnail || typeof thumbnail.ready !== 'function' ) return;
	await abortable( Promise.resolve( thumbnail.ready( { renderer: context.renderer, scene, camera, signal } ) ), signal );
	throwIfAborted( signal );

}

export {
	DEFAULT_WIDTH,
	DEFAULT_HEIGHT,
	DEFAULT_BACKGROUND,
	VIEW_ANGLES,
	createRenderer,
	warmUp,
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
	waitForModel,
	renderAndCapture,
	sampleCanvas,
	analyseImage,
	assertNotBlank,
};
