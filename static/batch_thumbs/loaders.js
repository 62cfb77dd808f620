/**
 * The format registry: maps an asset format's `format_type` to a function that loads it into
 * a three.js object.
 *
 * Every load gets its own LoadingManager whose URL modifier resolves sidecar files (.bin,
 * textures, .mtl) from the format's `resources`, so a multi-file glTF or OBJ works whatever
 * names the storage gave those files. Loads are abortable (AbortSignal) and have a timeout that
 * really aborts the requests in flight; every failure rejects with a typed error whose `reason`
 * is reported to the server. Nothing is swallowed: a texture that fails to load fails the asset.
 */
import {
	Group,
	LoaderUtils,
	LoadingManager,
	Mesh,
	MeshStandardMaterial,
	Points,
	PointsMaterial,
} from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { KTX2Loader } from 'three/addons/loaders/KTX2Loader.js';
import { OBJLoader } from 'three/addons/loaders/OBJLoader.js';
import { MTLLoader } from 'three/addons/loaders/MTLLoader.js';
import { FBXLoader } from 'three/addons/loaders/FBXLoader.js';
import { STLLoader } from 'three/addons/loaders/STLLoader.js';
import { PLYLoader } from 'three/addons/loaders/PLYLoader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

import { disposeObject } from './dispose.js';
import { LoadError, Reason, UnsupportedFormatError, cleanMessage, toThumbnailError } from './errors.js';
import { abortable, createDeadline, reasonOf, throwIfAborted } from './signals.js';
import { isGltf1, loadGltf1 } from './loaders/gltf1.js';
import { brushMaterialsPlugin } from './loaders/gltf-brushes.js';

/** Colour for formats without materials (STL, PLY): contrasts with light and dark backgrounds. */
const UNTEXTURED_COLOR = 0x8c95a5;

/** Default time budget for one load, in milliseconds. */
const DEFAULT_TIMEOUT_MS = 60000;

/** @type {Map<string, function(LoadContext): Promise<LoadedModel>>} */
const _registry = new Map();

/** Shared decoders: one DRACOLoader (and its workers) for every load. */
const _decoders = { draco: null, ktx2: null, ktx2Renderer: null, dracoPath: null, basisPath: null };

const _textDecoder = new TextDecoder();

/**
 * @typedef {Object} LoadedModel
 * @property {import('three').Object3D} object - Root of the loaded model.
 * @property {import('three').AnimationClip[]} animations
 * @property {string} formatType
 */

/**
 * @typedef {Object} LoadContext
 * @property {Object} format - The asset format (format_type, root_url, resources).
 * @property {string} rootUrl - Absolute URL of the root file.
 * @property {string} resourcePath - Folder of the root file, with a trailing slash.
 * @property {LoadingManager} manager - Per-load manager resolving sidecar URLs.
 * @property {AbortSignal} signal
 * @property {function(): Promise<ArrayBuffer>} fetchRoot - The root file, checked for HTML/LFS.
 * @property {function(string): Promise<ArrayBuffer>} fetchBuffer - Any file, by logical URL.
 * @property {function(string): (string|null)} findResource - A resource URL by filename.
 */

// ---------------------------------------------------------------------------------------------
// Registry

/**
 * Register (or replace) the loader for a format type.
 *
 * @param {string} formatType - e.g. "GLB".
 * @param {function(LoadContext): Promise<LoadedModel>} loadFunction
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
 * @return {(function(LoadContext): Promise<LoadedModel>)|null}
 */
function getLoader( formatType ) {

	return _registry.get( String( formatType || '' ).toUpperCase() ) || null;

}

/**
 * Whether a format type can be drawn.
 *
 * @param {string} formatType
 * @return {boolean}
 */
function isRenderable( formatType ) {

	return getLoader( formatType ) !== null;

}

/**
 * Pick the format to render: the preferred renderable one, else the first renderable one.
 *
 * @param {{formats?: Object[]}} asset
 * @return {Object} The chosen format.
 * @throws {UnsupportedFormatError|LoadError} When nothing can be drawn.
 */
function selectFormat( asset ) {

	const formats = ( asset && asset.formats ) || [];
	if ( formats.length === 0 ) throw new LoadError( 'The asset has no formats', { reason: Reason.NO_FORMAT } );
	const renderable = formats.filter( ( format ) => isRenderable( format.format_type ) && format.root_url );
	const chosen = renderable.find( ( format ) => format.is_preferred ) || renderable[ 0 ];
	if ( chosen ) return chosen;
	const types = [ ...new Set( formats.map( ( format ) => format.format_type ) ) ];
	throw new UnsupportedFormatError( types.join( ', ' ) );

}

// ---------------------------------------------------------------------------------------------
// Decoders

/**
 * Configure the shared decoders. Call once, after the renderer exists (KTX2 needs it to detect
 * which compressed texture formats the GPU supports).
 *
 * @param {{draco?: string, basis?: string, renderer?: import('three').WebGLRenderer}} options -
 *   `draco`/`basis` are decoder folder URLs.
 */
function configureDecoders( { draco, basis, renderer } = {} ) {

	if ( draco && draco !== _decoders.dracoPath ) {

		if ( _decoders.draco ) _decoders.draco.dispose();
		_decoders.draco = new DRACOLoader().setDecoderPath( withSlash( draco ) );
		_decoders.draco.preload();
		_decoders.dracoPath = draco;

	}

	if ( basis && renderer && ( basis !== _decoders.basisPath || renderer !== _decoders.ktx2Renderer ) ) {

		if ( _decoders.ktx2 ) _decoders.ktx2.dispose();
		_decoders.ktx2 = new KTX2Loader().setTranscoderPath( withSlash( basis ) ).detectSupport( renderer );
		_decoders.ktx2Renderer = renderer;
		_decoders.basisPath = basis;

	}

}

/**
 * Release decoder workers (end of a run).
 */
function disposeDecoders() {

	if ( _decoders.draco ) _decoders.draco.dispose();
	if ( _decoders.ktx2 ) _decoders.ktx2.dispose();
	Object.assign( _decoders, { draco: null, ktx2: null, ktx2Renderer: null, dracoPath: null, basisPath: null } );

}

function withSlash( path ) {

	return path.endsWith( '/' ) ? path : `${path}/`;

}

// ---------------------------------------------------------------------------------------------
// Loading

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

	try {

		throwIfAborted( deadline.signal );
		const work = ( async () => {

			const loaded = await loader( context );
			await context.whenIdle();
			context.throwIfItemErrors();
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
 * @return {import('./errors.js').ThumbnailError}
 */
function toLoadError( error ) {

	const message = error && error.message ? error.message : String( error );
	if ( error instanceof SyntaxError ) return new LoadError( `The file is not valid: ${cleanMessage( message )}`, { reason: Reason.INVALID_FILE, cause: error } );
	return toThumbnailError( error, Reason.LOAD_ERROR );

}

/**
 * Build the per-load context: URL resolution, tracked manager, checked fetches.
 *
 * @param {Object} format
 * @param {AbortSignal} signal
 * @param {string} [baseUrl]
 * @return {LoadContext & {whenIdle: function(): Promise<void>, throwIfItemErrors: function(): void, close: function(): void}}
 */
function createLoadContext( format, signal, baseUrl ) {

	const base = baseUrl || ( typeof location !== 'undefined' ? location.href : 'http://localhost/' );
	const rootUrl = new URL( format.root_url, base ).href;
	const resourcePath = LoaderUtils.extractUrlBase( rootUrl );
	const resolver = createResourceResolver( format.resources || [], resourcePath, base );

	const manager = new LoadingManager();
	const itemErrors = [];
	let pending = 0;
	let idleWaiters = [];
	let closed = false;

	manager.setURLModifier( ( url ) => {

		// Stop anything a parser still tries to start after Skip/Stop/timeout.
		if ( closed || signal.aborted ) throw reasonOf( signal.aborted ? signal : abortedSignal() );
		return resolver.resolve( url );

	} );

	const itemStart = manager.itemStart;
	const itemEnd = manager.itemEnd;
	const itemError = manager.itemError;
	manager.itemStart = ( url ) => {

		pending += 1;
		itemStart( url );

	};

	manager.itemEnd = ( url ) => {

		pending = Math.max( 0, pending - 1 );
		itemEnd( url );
		if ( pending === 0 ) {

			const waiters = idleWaiters;
			idleWaiters = [];
			for ( const resolve of waiters ) resolve();

		}

	};

	manager.itemError = ( url ) => {

		itemErrors.push( url );
		itemError( url );

	};

	const onAbort = () => manager.abort();
	signal.addEventListener( 'abort', onAbort, { once: true } );

	async function fetchBuffer( url ) {

		throwIfAborted( signal );
		const resolved = resolver.resolve( new URL( url, rootUrl ).href );
		const name = displayName( url );
		let response;
		try {

			response = await fetch( resolved, { signal, credentials: 'same-origin' } );

		} catch ( error ) {

			if ( signal.aborted ) throw reasonOf( signal );
			throw new LoadError( `Network error fetching ${name}: ${error.message}`, { reason: Reason.FETCH_ERROR, cause: error } );

		}

		if ( ! response.ok ) {

			throw new LoadError( `HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''} fetching ${name}`, { reason: Reason.FETCH_ERROR } );

		}

		const buffer = await response.arrayBuffer();
		checkNotImpostor( buffer, name );
		return buffer;

	}

	return {
		format,
		rootUrl,
		resourcePath,
		manager,
		signal,
		fetchBuffer,
		fetchRoot: () => fetchBuffer( rootUrl ),
		findResource: ( name ) => resolver.find( name ),
		listResources: () => resolver.list(),
		whenIdle() {

			if ( pending === 0 ) return Promise.resolve();
			return abortable( new Promise( ( resolve ) => idleWaiters.push( resolve ) ), signal );

		},
		throwIfItemErrors() {

			if ( itemErrors.length === 0 ) return;
			const names = [ ...new Set( itemErrors.map( displayName ) ) ];
			throw new LoadError( `Could not load ${names.join( ', ' )}`, { reason: Reason.MISSING_RESOURCE } );

		},
		close() {

			closed = true;
			signal.removeEventListener( 'abort', onAbort );

		},
	};

}

function abortedSignal() {

	return AbortSignal.abort();

}

/**
 * Resolve the URLs a loader asks for (relative to the root file) to the stored resources.
 *
 * @param {{url: string, filename: string}[]} resources
 * @param {string} resourcePath - Absolute folder of the root file.
 * @param {string} base - Base for relative resource URLs.
 */
function createResourceResolver( resources, resourcePath, base ) {

	const byPath = new Map();
	const byName = new Map();
	const ambiguous = new Set();

	for ( const resource of resources ) {

		if ( ! resource || ! resource.url ) continue;
		const url = new URL( resource.url, base ).href;
		const path = normalisePath( resource.filename || resource.url.split( /[?#]/ )[ 0 ].split( '/' ).pop() );
		byPath.set( path, url );
		byPath.set( path.toLowerCase(), url );
		const name = path.split( '/' ).pop().toLowerCase();
		if ( byName.has( name ) && byName.get( name ) !== url ) ambiguous.add( name );
		byName.set( name, url );

	}

	for ( const name of ambiguous ) byName.delete( name );

	function find( relative ) {

		const path = normalisePath( relative );
		return byPath.get( path ) || byPath.get( path.toLowerCase() ) || byName.get( path.split( '/' ).pop().toLowerCase() ) || null;

	}

	function resolve( url ) {

		if ( /^(data|blob):/i.test( url ) ) return url;
		let absolute;
		try {

			absolute = new URL( url, resourcePath ).href;

		} catch {

			return url;

		}

		const bare = absolute.split( /[?#]/ )[ 0 ];
		const relative = bare.startsWith( resourcePath ) ? bare.slice( resourcePath.length ) : bare.split( '/' ).pop();
		return find( relative ) || absolute;

	}

	return { resolve, find, list: () => [ ...byPath.keys() ] };

}

function normalisePath( path ) {

	let value = String( path || '' ).replace( /\\/g, '/' ).replace( /^(\.\/)+/, '' ).replace( /^\/+/, '' );
	try {

		value = decodeURIComponent( value );

	} catch {

		// Keep the raw name when it is not valid percent-encoding.

	}

	return value;

}

function displayName( url ) {

	if ( /^data:/i.test( url ) ) return 'an embedded data URI';
	const bare = String( url ).split( /[?#]/ )[ 0 ];
	const name = bare.split( '/' ).pop() || bare;
	try {

		return decodeURIComponent( name );

	} catch {

		return name;

	}

}

/**
 * Refuse files that are not model data at all: empty files, HTML pages saved under a model's
 * name, and Git LFS pointers committed in place of the binary.
 *
 * @param {ArrayBuffer} buffer
 * @param {string} name
 */
function checkNotImpostor( buffer, name ) {

	if ( buffer.byteLength === 0 ) throw new LoadError( `${name} is empty (0 bytes)`, { reason: Reason.INVALID_FILE } );
	const head = _textDecoder.decode( new Uint8Array( buffer, 0, Math.min( 512, buffer.byteLength ) ) ).replace( /^\uFEFF/, '' ).trimStart();
	if ( /^version https:\/\/git-lfs\.github\.com\/spec\//.test( head ) ) {

		throw new LoadError( `${name} is a Git LFS pointer, not the model data (the file was committed without git-lfs)`, { reason: Reason.INVALID_FILE } );

	}

	if ( /^<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>]|!--)/i.test( head ) ) {

		throw new LoadError( `${name} is an HTML page, not a 3D model`, { reason: Reason.INVALID_FILE } );

	}

}

// ---------------------------------------------------------------------------------------------
// Format loaders

/**
 * glTF 2.0, binary (.glb) or JSON (.gltf, with sidecar .bin and textures or data URIs).
 *
 * @param {LoadContext} context
 * @return {Promise<LoadedModel>}
 */
async function loadGltf( context ) {

	const data = await context.fetchRoot();
	if ( isGltf1( data ) ) return loadGltf1( context, data ); // a .gltf typed GLTF2 that says 1.x
	const head = new Uint8Array( data, 0, Math.min( 4, data.byteLength ) );
	const magic = String.fromCharCode( ...head );
	const firstChar = _textDecoder.decode( new Uint8Array( data, 0, Math.min( 64, data.byteLength ) ) ).replace( /^\uFEFF/, '' ).trimStart()[ 0 ];
	if ( magic !== 'glTF' && firstChar !== '{' ) {

		throw new LoadError( `${displayName( context.rootUrl )} is not a glTF file (no glTF header or JSON)`, { reason: Reason.INVALID_FILE } );

	}

	const loader = new GLTFLoader( context.manager );
	if ( _decoders.draco ) loader.setDRACOLoader( _decoders.draco );
	if ( _decoders.ktx2 ) loader.setKTX2Loader( _decoders.ktx2 );
	loader.setMeshoptDecoder( MeshoptDecoder );
	loader.register( brushMaterialsPlugin( context ) );

	const gltf = await new Promise( ( resolve, reject ) => {

		try {

			loader.parse( data, context.resourcePath, resolve, reject );

		} catch ( error ) {

			reject( error );

		}

	} );

	const object = gltf.scene || ( gltf.scenes && gltf.scenes[ 0 ] ) || new Group();
	return { object, animations: gltf.animations || [] };

}

/**
 * Wavefront OBJ, with its MTL (and the MTL's textures) when the format has one.
 *
 * @param {LoadContext} context
 * @return {Promise<LoadedModel>}
 */
async function loadObj( context ) {

	const text = _textDecoder.decode( await context.fetchRoot() );
	const loader = new OBJLoader( context.manager );

	const mtllib = text.match( /^\s*mtllib\s+(.+?)\s*$/m );
	const mtlName = mtllib ? mtllib[ 1 ] : null;
	let mtlPath = mtlName && context.findResource( mtlName ) ? mtlName : null;
	if ( ! mtlPath ) mtlPath = context.listResources().find( ( name ) => /\.mtl$/i.test( name ) ) || null;

	if ( mtlPath ) {

		const mtlUrl = new URL( mtlPath, context.resourcePath ).href;
		const mtlText = _textDecoder.decode( await context.fetchBuffer( mtlUrl ) );
		const creator = new MTLLoader( context.manager ).parse( mtlText, LoaderUtils.extractUrlBase( mtlUrl ) );
		creator.preload();
		loader.setMaterials( creator );

	}

	return { object: loader.parse( text ) };

}

/**
 * Autodesk FBX (binary or ASCII 7.x); textures resolved through the manager.
 *
 * @param {LoadContext} context
 * @return {Promise<LoadedModel>}
 */
async function loadFbx( context ) {

	const buffer = await context.fetchRoot();
	const object = new FBXLoader( context.manager ).parse( buffer, context.resourcePath );
	return { object, animations: object.animations || [] };

}

/**
 * STL (binary or ASCII): one mesh, vertex colours when the file has them.
 *
 * @param {LoadContext} context
 * @return {Promise<LoadedModel>}
 */
async function loadStl( context ) {

	const geometry = new STLLoader( context.manager ).parse( await context.fetchRoot() );
	if ( ! geometry.hasAttribute( 'normal' ) ) geometry.computeVertexNormals();
	const material = new MeshStandardMaterial( {
		color: geometry.hasColors ? 0xffffff : UNTEXTURED_COLOR,
		vertexColors: Boolean( geometry.hasColors ),
		roughness: 0.55,
		metalness: 0.1,
		opacity: geometry.alpha ?? 1,
		transparent: ( geometry.alpha ?? 1 ) < 1,
	} );
	const group = new Group();
	const mesh = new Mesh( geometry, material );
	mesh.rotation.x = - Math.PI / 2; // STL files are Z-up by convention (3D printing); three.js is Y-up.
	group.add( mesh );
	return { object: group };

}

/**
 * PLY: a mesh when it has faces, else a point cloud.
 *
 * @param {LoadContext} context
 * @return {Promise<LoadedModel>}
 */
async function loadPly( context ) {

	const geometry = new PLYLoader( context.manager ).parse( await context.fetchRoot() );
	const hasColors = geometry.hasAttribute( 'color' );
	const group = new Group();
	if ( geometry.index !== null ) {

		if ( ! geometry.hasAttribute( 'normal' ) ) geometry.computeVertexNormals();
		group.add( new Mesh( geometry, new MeshStandardMaterial( {
			color: hasColors ? 0xffffff : UNTEXTURED_COLOR,
			vertexColors: hasColors,
			roughness: 0.6,
			metalness: 0.05,
		} ) ) );

	} else {

		geometry.computeBoundingSphere();
		const radius = geometry.boundingSphere ? geometry.boundingSphere.radius : 1;
		group.add( new Points( geometry, new PointsMaterial( {
			color: hasColors ? 0xffffff : 0x30343a,
			vertexColors: hasColors,
			size: Math.max( radius / 150, 1e-6 ),
			sizeAttenuation: true,
		} ) ) );

	}

	return { object: group };

}

registerLoader( 'GLB', loadGltf );
registerLoader( 'GLTF2', loadGltf );
registerLoader( 'GLTF1', loadGltf1 );
registerLoader( 'OBJ', loadObj );
registerLoader( 'FBX', loadFbx );
registerLoader( 'STL', loadStl );
registerLoader( 'PLY', loadPly );

export {
	DEFAULT_TIMEOUT_MS,
	registerLoader,
	unregisterLoader,
	getLoader,
	isRenderable,
	selectFormat,
	configureDecoders,
	disposeDecoders,
	loadFormat,
	createResourceResolver,
};
