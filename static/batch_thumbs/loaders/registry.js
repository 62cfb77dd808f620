/**
 * The one format registry: which loader draws which `format_type`, in which order an asset's
 * formats are tried, and the load itself (timeout, abort, typed errors).
 *
 * The order and the drawable set come from the server's format table (`icosa/formats.py`,
 * emitted as the page config's `formats`), so the page never keeps a second list. A format is
 * drawable when that table says so and a loader is registered here. When the preferred format
 * fails to load, the next drawable format of the same asset is tried; a model that loads and
 * renders blank is not a load failure and is not retried.
 */
import { Loader } from 'three';

import { disposeObject } from '../dispose.js';
import { LoadError, Reason, UnsupportedFormatError, cleanMessage, toThumbnailError } from '../errors.js';
import { abortable, createDeadline, reasonOf, throwIfAborted } from '../signals.js';
import { createLoadContext } from './context.js';
import { UNTEXTURED_COLOR, formatEntry } from './format-table.js';
import { loadGltf } from './gltf.js';

/** Default time budget for one load, in milliseconds. */
const DEFAULT_TIMEOUT_MS = 60000;

/** @type {Map<string, function(import('./context.js').LoadContext): Promise<LoadedModel>>} */
const _registry = new Map();

/**
 * @typedef {Object} LoadedModel
 * @property {import('three').Object3D} object - Root of the loaded model.
 * @property {import('three').AnimationClip[]} animations
 * @property {string} formatType
 * @property {Object} [format] - The asset format that produced it (from `loadAsset`).
 */

/**
 * Register (or replace) the loader for a format type.
 *
 * @param {string} formatType - e.g. "GLB".
 * @param {function(import('./context.js').LoadContext): Promise<LoadedModel>} loadFunction
 */
function registerLoader( formatType, loadFunction ) {

	_registry.set( String( formatType ).toUpperCase(), loadFunction );

}

/**
 * Remove the loader for a format type.
 *
 * @param {string} formatType
 * @return {boolean} Whether one was registered.
 */
function unregisterLoader( formatType ) {

	return _registry.delete( String( formatType ).toUpperCase() );

}

/**
 * The loader for a format type, or null when there is none.
 *
 * @param {string} formatType
 * @return {(function(import('./context.js').LoadContext): Promise<LoadedModel>)|null}
 */
function getLoader( formatType ) {

	return _registry.get( String( formatType || '' ).toUpperCase() ) || null;

}

/**
 * Whether a format type can be drawn: the table allows it and a loader is registered.
 *
 * @param {string} formatType
 * @return {boolean}
 */
function isRenderable( formatType ) {

	const entry = formatEntry( formatType );
	if ( entry && ! entry.drawable ) return false;
	return getLoader( formatType ) !== null;

}

/**
 * The asset's drawable formats, best first: by the table's rank, then the listing's order
 * (which puts the gallery's preferred format first).
 *
 * @param {{formats?: Object[]}} asset
 * @return {Object[]}
 * @throws {UnsupportedFormatError|LoadError} When nothing can be drawn.
 */
function formatCandidates( asset ) {

	const formats = ( asset && asset.formats ) || [];
	if ( formats.length === 0 ) throw new LoadError( 'The asset has no formats', { reason: Reason.NO_FORMAT } );
	const rank = ( format ) => {

		const entry = formatEntry( format.format_type );
		return entry ? entry.rank : Infinity;

	};

	const drawable = formats
		.map( ( format, index ) => ( { format, index } ) )
		.filter( ( { format } ) => isRenderable( format.format_type ) && format.root_url )
		.sort( ( a, b ) => ( rank( a.format ) - rank( b.format ) ) || ( b.format.is_preferred - a.format.is_preferred ) || ( a.index - b.index ) )
		.map( ( { format } ) => format );
	if ( drawable.length > 0 ) return drawable;
	const types = [ ...new Set( formats.map( ( format ) => format.format_type ) ) ];
	throw new UnsupportedFormatError( types.join( ', ' ) );

}

/**
 * The format to render first.
 *
 * @param {{formats?: Object[]}} asset
 * @return {Object}
 */
function selectFormat( asset ) {

	return formatCandidates( asset )[ 0 ];

}

/**
 * Load an asset: its best drawable format, else the next one when that fails to load.
 *
 * @param {Object} asset
 * @param {Object} [options] - As `loadFormat`, plus `onFormat(format)` before each try.
 * @return {Promise<LoadedModel>} With `format` set to the one that loaded.
 * @throws The first format's error when none loads.
 */
async function loadAsset( asset, { onFormat, ...options } = {} ) {

	const candidates = formatCandidates( asset );
	let first = null;
	for ( const format of candidates ) {

		if ( onFormat ) onFormat( format );
		try {

			return { ...( await loadFormat( format, options ) ), format };

		} catch ( error ) {

			if ( ! isLoadFailure( error ) || ( options.signal && options.signal.aborted ) ) throw error;
			first = first || error;

		}

	}

	throw first;

}

/** Load failures (bad or missing data) move on to the next format; aborts and timeouts do not. */
function isLoadFailure( error ) {

	return [ Reason.UNSUPPORTED_FORMAT, Reason.INVALID_FILE, Reason.MISSING_RESOURCE, Reason.LOAD_ERROR, Reason.FETCH_ERROR ].includes( error && error.reason );

}

/**
 * Load one asset format.
 *
 * @param {Object} format - `{format_type, root_url, resources: [{url, filename}]}`.
 * @param {Object} [options]
 * @param {AbortSignal} [options.signal] - Abort to cancel (rejects with an AbortError, or with
 *   the signal's reason when it is a typed error such as a TimeoutError).
 * @param {number} [options.timeoutMs=60000] - Time budget; `Infinity` for none.
 * @param {string} [options.baseUrl] - Base for relative URLs (defaults to the page).
 * @return {Promise<LoadedModel>}
 */
async function loadFormat( format, { signal, timeoutMs = DEFAULT_TIMEOUT_MS, baseUrl } = {} ) {

	const formatType = String( format && format.format_type || '' ).toUpperCase();
	const loader = getLoader( formatType );
	if ( ! loader ) throw new UnsupportedFormatError( formatType );
	if ( ! format.root_url ) throw new LoadError( `The ${formatType} format has no root file`, { reason: Reason.NO_FORMAT } );

	const deadline = createDeadline( signal, timeoutMs );
	const context = createLoadContext( format, deadline.signal, baseUrl );
	context.delegate = ( type ) => {

		const other = getLoader( type );
		if ( ! other ) throw new UnsupportedFormatError( type );
		return other( context );

	};

	try {

		throwIfAborted( deadline.signal );
		const work = ( async () => {

			await context.prepare();
			let loaded;
			try {

				loaded = await loader( context );
				await context.whenIdle();

			} catch ( error ) {

				throw context.explain( error );

			}

			const notes = context.finish( loaded.object );
			addNotes( loaded.object, notes );
			checkGeometry( loaded.object );
			tintDefaultMaterials( loaded.object );
			addMissingNormals( loaded.object );
			return { animations: [], ...loaded, formatType };

		} )();
		// A result that arrives after Skip/Stop/timeout is thrown away at once.
		return await abortable( work, deadline.signal, ( late ) => disposeObject( late && late.object ) );

	} catch ( error ) {

		if ( deadline.signal.aborted ) throw reasonOf( deadline.signal );
		throw toLoadError( error );

	} finally {

		deadline.dispose();
		context.close();

	}

}

/** Merge the load's notes into `object.userData.thumbnail.notes` (kept with a format's own). */
function addNotes( object, notes ) {

	if ( Object.keys( notes ).length === 0 ) return;
	const thumbnail = object.userData.thumbnail = object.userData.thumbnail || {};
	thumbnail.notes = { ...notes, ...( thumbnail.notes || {} ) };

}

/**
 * Refuse geometry whose indices point outside its data: loaders fill such entries with NaN
 * (a 3MF colour index out of range) or leave indices past the vertex count.
 *
 * @param {import('three').Object3D} root
 * @throws {LoadError} `invalid_file`.
 */
function checkGeometry( root ) {

	root.traverse( ( node ) => {

		const geometry = node.isMesh && node.geometry;
		if ( ! geometry || ! geometry.attributes.position ) return;
		const count = geometry.attributes.position.count;
		const index = geometry.index;
		if ( index && index.count > 0 ) {

			let max = 0;
			for ( let i = 0; i < index.count; i ++ ) max = Math.max( max, index.getX( i ) );
			if ( max >= count ) throw invalidIndices( node, `vertex index ${max} of ${count} vertices` );

		}

		for ( const name of [ 'position', 'color' ] ) {

			const attribute = geometry.attributes[ name ];
			if ( ! attribute || ! attribute.array ) continue;
			const array = attribute.array;
			let nan = 0;
			for ( let i = 0; i < array.length; i ++ ) if ( array[ i ] !== array[ i ] ) nan += 1;
			if ( nan > 0 ) throw invalidIndices( node, `${nan} ${name} values are not numbers` );

		}

	} );

}

function invalidIndices( node, what ) {

	const label = node.name ? ` (${node.name})` : '';
	return new LoadError( `The file is not valid: indices out of range in a mesh${label}: ${what}`, { reason: Reason.INVALID_FILE } );

}

/**
 * Loaders give meshes without a material their default white one, which vanishes against a
 * light background; draw those in the neutral untextured colour STL and PLY use.
 *
 * @param {import('three').Object3D} root
 */
function tintDefaultMaterials( root ) {

	root.traverse( ( node ) => {

		const materials = Array.isArray( node.material ) ? node.material : node.material ? [ node.material ] : [];
		for ( const material of materials ) {

			if ( material.name !== Loader.DEFAULT_MATERIAL_NAME || material.map || material.vertexColors || ! material.color ) continue;
			if ( material.color.getHex() === 0xffffff ) material.color.setHex( UNTEXTURED_COLOR );

		}

	} );

}

/**
 * Lit meshes without normals (OBJ without `vn`, some FBX) render flat; compute them.
 *
 * @param {import('three').Object3D} root
 */
function addMissingNormals( root ) {

	root.traverse( ( node ) => {

		const geometry = node.isMesh && node.geometry;
		if ( geometry && geometry.attributes.position && ! geometry.attributes.normal ) geometry.computeVertexNormals();

	} );

}

/**
 * Map a library error to a readable typed error.
 *
 * @param {unknown} error
 * @return {import('../errors.js').ThumbnailError}
 */
function toLoadError( error ) {

	const message = error && error.message ? error.message : String( error );
	if ( error instanceof SyntaxError ) return new LoadError( `The file is not valid: ${cleanMessage( message )}`, { reason: Reason.INVALID_FILE, cause: error } );
	return toThumbnailError( error, Reason.LOAD_ERROR );

}

/**
 * A loader whose module is imported the first time an asset needs it: a page starts with
 * glTF's loaders only (most of a gallery), not the ~600 KB of every other format's.
 *
 * @param {string} module - Relative to this module.
 * @param {string} name - The load function it exports.
 * @return {function(import('./context.js').LoadContext): Promise<LoadedModel>}
 */
function onDemand( module, name ) {

	return async ( context ) => ( await import( module ) )[ name ]( context );

}

registerLoader( 'GLB', loadGltf );
registerLoader( 'GLTF2', loadGltf );
registerLoader( 'GLTF1', onDemand( './gltf1.js', 'loadGltf1' ) );
registerLoader( 'OBJ', onDemand( './obj.js', 'loadObj' ) );
registerLoader( 'FBX', onDemand( './fbx.js', 'loadFbx' ) );
registerLoader( 'STL', onDemand( './mesh-files.js', 'loadStl' ) );
registerLoader( 'PLY', onDemand( './mesh-files.js', 'loadPly' ) );
registerLoader( 'USDZ', onDemand( './three-formats.js', 'loadUsdz' ) );
registerLoader( 'VOX', onDemand( './three-formats.js', 'loadVox' ) );
registerLoader( 'DAE', onDemand( './three-formats.js', 'loadDae' ) );
registerLoader( '3DS', onDemand( './three-formats.js', 'load3ds' ) );
registerLoader( '3MF', onDemand( './three-formats.js', 'load3mf' ) );
registerLoader( 'AMF', onDemand( './three-formats.js', 'loadAmf' ) );
for ( const type of [ 'SPZ', 'SPLAT', 'KSPLAT', 'SOG', 'SPLAT_PLY' ] ) registerLoader( type, onDemand( './splat.js', 'loadSplat' ) );

export {
	DEFAULT_TIMEOUT_MS,
	registerLoader,
	unregisterLoader,
	getLoader,
	isRenderable,
	formatCandidates,
	selectFormat,
	loadAsset,
	loadFormat,
};
