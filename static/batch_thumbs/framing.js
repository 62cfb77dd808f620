/**
 * Framing as pure maths, like three's CameraUtils: where the camera goes for a set of world
 * points, and which points stand for a model. Nothing here touches the DOM or WebGL, so it runs
 * (and is unit-tested) in Node.
 */
import { Box3, Matrix4, PerspectiveCamera, Vector3 } from 'three';

import { EmptySceneError } from './errors.js';

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

/**
 * The eight corners of a box as packed x, y, z triples: the points to frame when a loader
 * gives its own bounds (`userData.thumbnail.bounds`) instead of drawable geometry.
 *
 * @param {Box3} box
 * @return {Float32Array}
 * @throws {EmptySceneError} When the box is empty or has zero size.
 */
function boxPoints( box ) {

	if ( ! box || box.isEmpty() || ! ( box.getSize( _vector ).length() > 0 ) ) {

		throw new EmptySceneError( 'Nothing to draw: the model has a zero-size bounding box' );

	}

	const points = new Float32Array( 24 );
	for ( let c = 0; c < 8; c ++ ) {

		points[ 3 * c ] = c & 1 ? box.max.x : box.min.x;
		points[ 3 * c + 1 ] = c & 2 ? box.max.y : box.min.y;
		points[ 3 * c + 2 ] = c & 4 ? box.max.z : box.min.z;

	}

	return points;

}

/**
 * The box holding the central `1 - 2 * trim` of the points on each axis. Splat captures carry
 * floaters far from the subject; a plain bounding box (or sphere) of all centres would frame
 * those and leave the object a speck in the middle.
 *
 * @param {Float32Array|number[]} points - Packed x, y, z triples.
 * @param {Object} [options]
 * @param {number} [options.trim=0.02] - Fraction cut from each end of each axis.
 * @param {number} [options.maxSamples=200000] - Evenly strided sample for large inputs.
 * @return {Box3} Empty when there are no finite points.
 */
function percentileBox( points, { trim = 0.02, maxSamples = 200000 } = {} ) {

	const count = Math.floor( points.length / 3 );
	const stride = Math.max( 1, Math.ceil( count / maxSamples ) );
	const axes = [ [], [], [] ];
	for ( let i = 0; i < count; i += stride ) {

		const x = points[ 3 * i ], y = points[ 3 * i + 1 ], z = points[ 3 * i + 2 ];
		if ( ! ( Number.isFinite( x ) && Number.isFinite( y ) && Number.isFinite( z ) ) ) continue;
		axes[ 0 ].push( x );
		axes[ 1 ].push( y );
		axes[ 2 ].push( z );

	}

	const box = new Box3();
	const n = axes[ 0 ].length;
	if ( n === 0 ) return box;
	const low = Math.min( n - 1, Math.floor( trim * ( n - 1 ) ) );
	const high = Math.max( low, Math.ceil( ( 1 - trim ) * ( n - 1 ) ) );
	const sorted = axes.map( ( values ) => Float64Array.from( values ).sort() );
	box.min.set( sorted[ 0 ][ low ], sorted[ 1 ][ low ], sorted[ 2 ][ low ] );
	box.max.set( sorted[ 0 ][ high ], sorted[ 1 ][ high ], sorted[ 2 ][ high ] );
	return box;

}

/**
 * What to frame for a loaded model: its loader's bounds when it gave some, else sample points
 * of its geometry.
 *
 * @param {import('three').Object3D} model
 * @return {Float32Array}
 */
function framingPoints( model ) {

	const thumbnail = model.userData && model.userData.thumbnail;
	if ( thumbnail && thumbnail.bounds ) return boxPoints( thumbnail.bounds );
	return collectPoints( model );

}

export {
	DEFAULT_FOV,
	VIEW_ANGLES,
	collectPoints,
	computeFraming,
	presentationFraming,
	createCamera,
	boxPoints,
	percentileBox,
	framingPoints,
};
