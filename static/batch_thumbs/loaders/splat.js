/**
 * Gaussian splats with Spark (@sparkjsdev/spark): .spz (gzipped v2/v3 and raw "NGSP" v4),
 * .splat, .ksplat, .sog (bundled zip, or unbundled meta.json + webp) and PLY files whose header
 * declares splat properties (3DGS and SuperSplat's compressed layout).
 *
 * Spark never fetches anything itself: the bytes come through the LoadContext (the asset's
 * listed resources only) and reach Spark as `fileBytes`. An unbundled SOG's webp files are
 * fetched from the asset's resources and zipped in memory into the bundled form Spark decodes.
 * Spark 2.2 reads gzipped SPZ (v2, v3) but not v4 (a raw "NGSP" header, a table of contents and
 * one zstd stream per attribute): a v4 file is unpacked with three's zstd decoder into the v3
 * layout, which has the same attribute arrays, and handed over gzipped (stored, not deflated).
 *
 * The loaded object carries `userData.thumbnail`:
 * - `bounds`: a box around the central 96% of the visible splats' centres on each axis, widened
 *   by a few median splat sizes, so floaters far from the subject do not shrink it to a speck;
 * - `ready( { renderer, scene, camera, signal } )`: resolves once Spark has sorted the splats
 *   for this camera and swapped the sorted set in for display, so the capture never shows a
 *   cloud of dots or a half-sorted frame.
 *
 * Spark draws through one SparkRenderer in the scene. There is one per WebGLRenderer (made on
 * the first splat asset, kept for the run, marked `userData.persistent` so a scene's disposal
 * only detaches it); each asset's SplatMesh, and with it its splat data, is disposed with the
 * asset (`disposeObject` calls `dispose()` on the objects that have one).
 */
import { Group, Quaternion } from 'three';
import { gzipSync, zipSync } from 'three/addons/libs/fflate.module.js';
import { ZSTDDecoder } from 'three/addons/libs/zstddec.module.js';

import { EmptySceneError, LoadError, Reason, ThumbnailError, cleanMessage } from '../errors.js';
import { percentileBox } from '../framing.js';
import { isSplatPlyHeader } from './format-table.js';
import { nextFrames } from '../renderer.js';

/** Spark's file type for formats whose files have no magic number to sniff. */
const FILE_TYPE_BY_FORMAT = Object.freeze( { SPLAT: 'splat', KSPLAT: 'ksplat' } );

/** Fraction of centres cut from each end of each axis for the framing bounds. */
const BOUNDS_TRIM = 0.02;

/** Frames to wait for Spark's sort before giving up (a hang must fail, even in review). */
const MAX_SORT_FRAMES = 600;

/** Splats fainter than this do not count towards the framing bounds. */
const MIN_BOUNDS_OPACITY = 0.05;

/** The bounds are widened by this many times the median splat size (a splat is drawn to ~2.8σ). */
const BOUNDS_SPLAT_PAD = 3;

/** SPZ is stored in three's own axes. */
const IDENTITY = Object.freeze( new Quaternion() );

/** Half a turn about X: y-down, z-forward (OpenCV) captures to three's y-up. */
const HALF_TURN_X = Object.freeze( new Quaternion( 1, 0, 0, 0 ) );

/** Half a turn about Z: y-up as well, but the other side towards +Z. */
const HALF_TURN_Z = Object.freeze( new Quaternion( 0, 0, 1, 0 ) );

/** One SparkRenderer per WebGLRenderer, for the whole run. */
const _sparks = new WeakMap();

const _textDecoder = new TextDecoder();

let _spark = null;
let _zstd = null;

/** Spark's module, imported on the first splat so runs without splats never parse it. */
function spark() {

	if ( ! _spark ) _spark = import( '@sparkjsdev/spark' );
	return _spark;

}

/** three's zstd decoder (WebAssembly), made once. */
function zstd() {

	if ( ! _zstd ) {

		const decoder = new ZSTDDecoder();
		_zstd = decoder.init().then( () => decoder );

	}

	return _zstd;

}

/**
 * Whether a PLY file's header declares Gaussian splat properties. A PLY without them is a
 * mesh or a point cloud (PLYLoader's job), whatever its format type says.
 *
 * @param {ArrayBuffer} buffer
 * @return {boolean}
 */
function isSplatPly( buffer ) {

	const head = _textDecoder.decode( new Uint8Array( buffer, 0, Math.min( 65536, buffer.byteLength ) ) );
	if ( ! head.startsWith( 'ply' ) ) return false;
	const end = head.indexOf( 'end_header' );
	return isSplatPlyHeader( end === - 1 ? head : head.slice( 0, end ) );

}

/**
 * Load one splat file through Spark.
 *
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: Group}>} A group holding the SplatMesh.
 */
async function loadSplat( context ) {

	const bytes = new Uint8Array( await context.fetchRoot() );
	const fileType = sniffFileType( bytes, context.format.format_type );
	let fileBytes = bytes;
	if ( fileType === 'json' ) fileBytes = await bundleSog( bytes, context );
	else if ( isSpzV4( bytes ) ) fileBytes = await spzV4ToV3( bytes );
	const { SplatMesh } = await spark();

	const mesh = new SplatMesh( {
		fileBytes,
		fileType: fileType === 'json' ? 'pcsogszip' : fileType,
		fileName: displayName( context.rootUrl ),
		editable: false,
		raycastable: false,
	} );
	try {

		await mesh.initialized;

	} catch ( error ) {

		mesh.dispose();
		throw new LoadError( `The splat file could not be decoded: ${cleanMessage( error && error.message ? error.message : String( error ) )}`, { reason: Reason.INVALID_FILE, cause: error } );

	}

	const object = new Group();
	object.name = 'splats';
	object.add( mesh );
	const { box, splatSize } = splatBounds( mesh );
	if ( box.isEmpty() ) {

		mesh.dispose();
		throw new EmptySceneError( 'Nothing to draw: the splat file holds no visible splats' );

	}

	mesh.quaternion.copy( captureOrientation( box, fileType ) );
	object.updateMatrixWorld( true );
	const bounds = box.expandByScalar( BOUNDS_SPLAT_PAD * splatSize ).applyMatrix4( mesh.matrixWorld );

	object.userData.thumbnail = {
		bounds,
		ready: ( { renderer, scene, camera, signal } ) => waitForSort( renderer, scene, camera, signal ),
	};
	return { object };

}

/**
 * Spark's file type from the bytes where the format has a signature; "json" for an unbundled
 * SOG's meta.json.
 *
 * @param {Uint8Array} bytes
 * @param {string} formatType
 * @return {string}
 */
function sniffFileType( bytes, formatType ) {

	const b = bytes;
	if ( b[ 0 ] === 0x70 && b[ 1 ] === 0x6c && b[ 2 ] === 0x79 ) {

		if ( isSplatPly( b.buffer ) ) return 'ply';
		throw new LoadError( 'The PLY file declares no Gaussian splat properties (it is a mesh or point cloud: a PLY format)', { reason: Reason.INVALID_FILE } );

	}

	if ( b[ 0 ] === 0x1f && b[ 1 ] === 0x8b ) return 'spz'; // gzipped SPZ v2/v3
	if ( b[ 0 ] === 0x4e && b[ 1 ] === 0x47 && b[ 2 ] === 0x53 && b[ 3 ] === 0x50 ) return 'spz'; // raw "NGSP" v4
	if ( b[ 0 ] === 0x50 && b[ 1 ] === 0x4b && b[ 2 ] === 0x03 && b[ 3 ] === 0x04 ) return 'pcsogszip';
	const type = String( formatType || '' ).toUpperCase();
	if ( FILE_TYPE_BY_FORMAT[ type ] ) return FILE_TYPE_BY_FORMAT[ type ];
	if ( type === 'SOG' && _textDecoder.decode( b.subarray( 0, 64 ) ).trimStart().startsWith( '{' ) ) return 'json';
	throw new LoadError( `${type || 'The file'} is not a splat file Spark can read (no known signature)`, { reason: Reason.INVALID_FILE } );

}

/**
 * An unbundled SOG (meta.json naming webp files) as the bundled zip: every file the meta
 * names must be one of the asset's resources, or the asset fails naming it.
 *
 * @param {Uint8Array} metaBytes
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<Uint8Array>}
 */
async function bundleSog( metaBytes, context ) {

	let meta;
	try {

		meta = JSON.parse( _textDecoder.decode( metaBytes ) );

	} catch ( error ) {

		throw new LoadError( `meta.json is not valid JSON: ${cleanMessage( error.message )}`, { reason: Reason.INVALID_FILE, cause: error } );

	}

	const names = new Set();
	for ( const value of Object.values( meta && typeof meta === 'object' ? meta : {} ) ) {

		if ( value && Array.isArray( value.files ) ) for ( const name of value.files ) names.add( String( name ) );

	}

	if ( names.size === 0 ) throw new LoadError( 'meta.json names no SOG image files', { reason: Reason.INVALID_FILE } );
	const missing = [ ...names ].filter( ( name ) => ! context.findResource( name ) );
	if ( missing.length ) throw new LoadError( `Could not load ${missing.join( ', ' )}`, { reason: Reason.MISSING_RESOURCE } );

	const files = { 'meta.json': metaBytes };
	await Promise.all( [ ...names ].map( async ( name ) => {

		files[ name ] = new Uint8Array( await context.fetchBuffer( new URL( name, context.resourcePath ).href ) );

	} ) );
	return zipSync( files, { level: 0 } );

}

/**
 * The box around the visible splats' centres in the file's own coordinates, outliers trimmed,
 * and the median splat size (its largest axis) to pad it with.
 *
 * @param {import('@sparkjsdev/spark').SplatMesh} mesh
 * @return {{box: import('three').Box3, splatSize: number}}
 */
function splatBounds( mesh ) {

	const centres = [];
	const sizes = [];
	mesh.forEachSplat( ( index, center, scales, quaternion, opacity ) => {

		if ( opacity < MIN_BOUNDS_OPACITY ) return;
		centres.push( center.x, center.y, center.z );
		if ( index % 16 === 0 ) sizes.push( Math.max( scales.x, scales.y, scales.z ) );

	} );
	sizes.sort( ( a, b ) => a - b );
	return { box: percentileBox( centres, { trim: BOUNDS_TRIM } ), splatSize: sizes.length ? sizes[ sizes.length >> 1 ] : 0 };

}

/**
 * Which way up and round to show a capture. SPZ is defined in three's own axes (right, up,
 * back) and stays as it is. The other formats carry 3DGS training output as it was trained:
 * y-down, z-forward (OpenCV), so they turn half a turn to three's y-up. About X (as Spark's own
 * examples do) or about Z: both put y up, and they differ in which side faces our cameras (+Z).
 * A subject far from the origin was captured from cameras near the origin, so the side that
 * faces the origin is the trained, presentable one; it is turned to +Z. A subject around the
 * origin keeps the half turn about X.
 *
 * @param {import('three').Box3} box - Centres' box in file coordinates.
 * @param {string} fileType - Spark's file type.
 * @return {Quaternion}
 */
function captureOrientation( box, fileType ) {

	if ( fileType === 'spz' ) return IDENTITY;
	const centreZ = ( box.min.z + box.max.z ) / 2;
	const far = Math.abs( centreZ ) > box.max.distanceTo( box.min );
	// After a half turn about X the subject sits at -centreZ; the origin is in front when that is < 0.
	return far && centreZ < 0 ? HALF_TURN_Z : HALF_TURN_X;

}

/**
 * Whether the bytes are an SPZ v4 file (raw "NGSP" header with version 4).
 *
 * @param {Uint8Array} bytes
 * @return {boolean}
 */
function isSpzV4( bytes ) {

	return bytes.length >= 32 && bytes[ 0 ] === 0x4e && bytes[ 1 ] === 0x47 && bytes[ 2 ] === 0x53 && bytes[ 3 ] === 0x50
		&& new DataView( bytes.buffer, bytes.byteOffset, bytes.byteLength ).getUint32( 4, true ) === 4;

}

/**
 * SPZ v4 to gzipped v3. v4's header is 32 bytes: v3's 16 (magic, version, count, SH degree,
 * fractional bits, flags) with the stream count in the last byte, then the table of contents'
 * offset (u32). The table holds, per stream, its compressed and uncompressed sizes (u64 each);
 * the zstd streams follow it in v3's attribute order (positions, alphas, colours, scales,
 * rotations, spherical harmonics).
 *
 * @param {Uint8Array} bytes
 * @return {Promise<Uint8Array>}
 */
async function spzV4ToV3( bytes ) {

	const view = new DataView( bytes.buffer, bytes.byteOffset, bytes.byteLength );
	const streams = bytes[ 15 ];
	const toc = view.getUint32( 16, true );
	let offset = toc + 16 * streams;
	if ( streams === 0 || offset > bytes.length ) throw new LoadError( 'The SPZ v4 file is truncated (no stream table)', { reason: Reason.INVALID_FILE } );

	const decoder = await zstd();
	const parts = [];
	let total = 16;
	for ( let i = 0; i < streams; i ++ ) {

		const compressed = Number( view.getBigUint64( toc + 16 * i, true ) );
		const size = Number( view.getBigUint64( toc + 16 * i + 8, true ) );
		if ( offset + compressed > bytes.length ) throw new LoadError( 'The SPZ v4 file is truncated', { reason: Reason.INVALID_FILE } );
		let part;
		try {

			part = decoder.decode( bytes.subarray( offset, offset + compressed ), size );

		} catch ( error ) {

			throw new LoadError( `The SPZ v4 file has a corrupt stream: ${cleanMessage( error.message )}`, { reason: Reason.INVALID_FILE, cause: error } );

		}

		parts.push( part );
		total += part.length;
		offset += compressed;

	}

	const v3 = new Uint8Array( total );
	v3.set( bytes.subarray( 0, 16 ) );
	new DataView( v3.buffer ).setUint32( 4, 3, true );
	v3[ 15 ] = 0;
	let at = 16;
	for ( const part of parts ) {

		v3.set( part, at );
		at += part.length;

	}

	return gzipSync( v3, { level: 0 } );

}

/**
 * The run's SparkRenderer for this WebGLRenderer. No level-of-detail trees: they would be
 * built in the background per asset and could page data in from elsewhere.
 *
 * @param {import('three').WebGLRenderer} renderer
 * @return {Promise<import('@sparkjsdev/spark').SparkRenderer>}
 */
async function sparkRendererFor( renderer ) {

	let sparkRenderer = _sparks.get( renderer );
	if ( ! sparkRenderer ) {

		const { SparkRenderer } = await spark();
		sparkRenderer = new SparkRenderer( { renderer, enableLod: false, enableLodFetching: false } );
		sparkRenderer.userData.persistent = true;
		_sparks.set( renderer, sparkRenderer );

	}

	return sparkRenderer;

}

/**
 * Put the run's SparkRenderer into this asset's scene and wait until the splats are sorted
 * for `camera` and the sorted set is the one on display.
 *
 * @param {import('three').WebGLRenderer} renderer
 * @param {import('three').Scene} scene
 * @param {import('three').Camera} camera
 * @param {AbortSignal} [signal]
 * @return {Promise<void>}
 */
async function waitForSort( renderer, scene, camera, signal ) {

	const sparkRenderer = await sparkRendererFor( renderer );
	if ( sparkRenderer.parent !== scene ) scene.add( sparkRenderer );
	scene.updateMatrixWorld( true );
	await sparkRenderer.update( { scene, camera } );
	for ( let frame = 0; sparkRenderer.sorting || sparkRenderer.sortDirty || sparkRenderer.display !== sparkRenderer.current; frame ++ ) {

		if ( frame >= MAX_SORT_FRAMES ) throw new ThumbnailError( Reason.RENDER_ERROR, 'Spark did not finish sorting the splats' );
		await nextFrames( 1, signal );
		if ( ! sparkRenderer.sorting ) await sparkRenderer.update( { scene, camera } );

	}

}

function displayName( url ) {

	return String( url ).split( /[?#]/ )[ 0 ].split( '/' ).pop() || 'splat';

}

export { isSplatPly, loadSplat, sniffFileType, spzV4ToV3 };
