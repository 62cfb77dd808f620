/**
 * The per-load context every format loader gets, and the fetch policy behind it.
 *
 * A model file is written by a stranger, so it must not choose what the page fetches. The
 * context downloads the asset's listed resources itself (no credentials, a byte cap counted
 * while streaming, abortable) and hands loaders `blob:` URLs of those bytes. The LoadingManager
 * URL modifier, which every three.js loader passes its URLs through, allows only those blobs,
 * `data:` URIs and the configured brush assets; anything else a file names is refused with a
 * revoked blob URL, which fails inside the browser without a request, and recorded. After the
 * load a refused buffer fails the asset (`missing_resource`, naming the URI) while a refused or
 * broken texture is dropped from its material and listed in `notes.missing_textures`.
 */
import { LoaderUtils, LoadingManager } from 'three';

import { LoadError, Reason } from '../errors.js';
import { abortable, reasonOf, throwIfAborted } from '../signals.js';

/** Model fetches never carry the admin's cookies (see the README's fetch policy). */
const MODEL_FETCH_CREDENTIALS = 'omit';

/** Names that are images when a loader reports them missing (textures are optional). */
const IMAGE_NAME = /\.(png|jpe?g|webp|gif|bmp|tga|tiff?|avif|ktx2?|dds|basis|hdr|exr)$/i;

/** Material slots that hold textures (three.js material properties). */
const TEXTURE_SLOTS = [
	'map', 'normalMap', 'bumpMap', 'roughnessMap', 'metalnessMap', 'aoMap', 'emissiveMap', 'alphaMap',
	'specularMap', 'lightMap', 'displacementMap', 'envMap', 'clearcoatMap', 'clearcoatNormalMap',
	'clearcoatRoughnessMap', 'sheenColorMap', 'sheenRoughnessMap', 'transmissionMap', 'thicknessMap',
	'specularIntensityMap', 'specularColorMap', 'iridescenceMap', 'iridescenceThicknessMap', 'anisotropyMap',
];

const _textDecoder = new TextDecoder();

/** Page-wide policy: set once from the page config (`configureFetchPolicy`). */
const _policy = { brushAssetsUrl: null, maxAssetBytes: Infinity };

/**
 * @typedef {Object} LoadContext
 * @property {Object} format - The asset format (format_type, root_url, resources).
 * @property {string} rootUrl - Absolute URL of the root file.
 * @property {string} resourcePath - Folder of the root file, with a trailing slash.
 * @property {LoadingManager} manager - Per-load manager: resolves sidecars, refuses the rest.
 * @property {AbortSignal} signal
 * @property {function(): Promise<ArrayBuffer>} fetchRoot - The root file, checked for HTML/LFS.
 * @property {function(string): Promise<ArrayBuffer>} fetchBuffer - A listed resource or a brush
 *   asset, by URL relative to the root file; anything else fails with `missing_resource`.
 * @property {function(string): (string|null)} findResource - A resource URL by filename.
 * @property {function(): string[]} listResources - The resources' logical paths.
 * @property {function(string, LoadContext): Promise<Object>} delegate - Load with another
 *   registered format's loader (a PLY that is a splat); set by the registry.
 */

/**
 * Set the page-wide fetch policy from the page config.
 *
 * @param {{brushAssetsUrl?: (string|null), maxAssetBytes?: number}} config
 */
function configureFetchPolicy( { brushAssetsUrl = null, maxAssetBytes } = {} ) {

	_policy.brushAssetsUrl = brushAssetsUrl ? new URL( brushAssetsUrl, pageBase() ).href : null;
	_policy.maxAssetBytes = Number( maxAssetBytes ) > 0 ? Number( maxAssetBytes ) : Infinity;

}

function pageBase() {

	return typeof location !== 'undefined' ? location.href : 'http://localhost/';

}

/**
 * Build the per-load context.
 *
 * @param {Object} format
 * @param {AbortSignal} signal
 * @param {string} [baseUrl]
 * @return {LoadContext & {prepare: function(): Promise<void>, whenIdle: function(): Promise<void>, finish: function(import('three').Object3D): Object, close: function(): void}}
 */
function createLoadContext( format, signal, baseUrl ) {

	const base = baseUrl || pageBase();
	const rootUrl = new URL( format.root_url, base ).href;
	const resourcePath = LoaderUtils.extractUrlBase( rootUrl );
	const resolver = createResourceResolver( format.resources || [], resourcePath, base );
	if ( ! resolver.isListed( rootUrl ) ) resolver.add( rootUrl, rootUrl.split( /[?#]/ )[ 0 ].slice( resourcePath.length ) );

	const manager = new LoadingManager();
	const blobs = new Map(); // resource URL -> blob: URL of its downloaded bytes
	const buffers = new Map(); // resource URL -> Promise<ArrayBuffer>
	const refused = new Map(); // revoked blob URL handed out -> the URI the file named
	const failed = new Set(); // URIs whose load failed
	const own = new Set(); // blob: URLs this context created
	let pending = 0;
	let idleWaiters = [];
	let closed = false;
	let bytes = 0;

	manager.setURLModifier( ( url ) => {

		// Stop anything a parser still tries to start after Skip/Stop/timeout.
		if ( closed || signal.aborted ) throw reasonOf( signal.aborted ? signal : AbortSignal.abort() );
		if ( /^data:/i.test( url ) ) return url;
		if ( /^blob:/i.test( url ) ) return url; // Created in this page (embedded images): never a request.
		const resource = resolver.resolve( url );
		if ( resource && blobs.has( resource ) ) return blobs.get( resource );
		if ( isBrushAsset( url ) ) return url;
		return refuse( url );

	} );

	function refuse( url ) {

		const marker = URL.createObjectURL( new Blob() );
		URL.revokeObjectURL( marker );
		refused.set( marker, url );
		return marker;

	}

	function isBrushAsset( url ) {

		if ( ! _policy.brushAssetsUrl ) return false;
		try {

			return new URL( url, resourcePath ).href.startsWith( _policy.brushAssetsUrl );

		} catch {

			return false;

		}

	}

	const { itemStart, itemEnd, itemError } = manager;
	manager.itemStart = ( url ) => {

		pending += 1;
		itemStart.call( manager, url );

	};

	manager.itemEnd = ( url ) => {

		pending = Math.max( 0, pending - 1 );
		itemEnd.call( manager, url );
		if ( pending === 0 ) {

			const waiters = idleWaiters;
			idleWaiters = [];
			for ( const resolve of waiters ) resolve();

		}

	};

	manager.itemError = ( url ) => {

		failed.add( refused.get( url ) || originalOf( url ) );
		itemError.call( manager, url );

	};

	function originalOf( url ) {

		for ( const [ resource, blob ] of blobs ) if ( blob === url ) return resource;
		return url;

	}

	const onAbort = () => manager.abort();
	signal.addEventListener( 'abort', onAbort, { once: true } );

	/** Download one listed resource (once), streaming against the asset's byte cap. */
	function download( url ) {

		if ( ! buffers.has( url ) ) buffers.set( url, fetchChecked( url ) );
		return buffers.get( url );

	}

	async function fetchChecked( url ) {

		throwIfAborted( signal );
		const name = displayName( url );
		let response;
		try {

			response = await fetch( url, { signal, credentials: MODEL_FETCH_CREDENTIALS } );

		} catch ( error ) {

			if ( signal.aborted ) throw reasonOf( signal );
			throw new LoadError( `Network error fetching ${name}: ${error.message}`, { reason: Reason.FETCH_ERROR, cause: error } );

		}

		if ( ! response.ok ) {

			throw new LoadError( `HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''} fetching ${name}`, { reason: Reason.FETCH_ERROR } );

		}

		return readCapped( response, name );

	}

	async function readCapped( response, name ) {

		const declared = Number( response.headers.get( 'content-length' ) );
		if ( declared > 0 && bytes + declared > _policy.maxAssetBytes ) throw tooBig( name );
		if ( ! response.body ) return response.arrayBuffer();
		const reader = response.body.getReader();
		const chunks = [];
		let length = 0;
		try {

			for ( ;; ) {

				const { done, value } = await reader.read();
				if ( done ) break;
				length += value.byteLength;
				bytes += value.byteLength;
				if ( bytes > _policy.maxAssetBytes ) {

					reader.cancel().catch( () => {} );
					throw tooBig( name );

				}

				chunks.push( value );

			}

		} catch ( error ) {

			if ( signal.aborted ) throw reasonOf( signal );
			throw error instanceof LoadError ? error : new LoadError( `Network error reading ${name}: ${error.message}`, { reason: Reason.FETCH_ERROR, cause: error } );

		}

		const out = new Uint8Array( length );
		let offset = 0;
		for ( const chunk of chunks ) {

			out.set( chunk, offset );
			offset += chunk.byteLength;

		}

		return out.buffer;

	}

	function tooBig( name ) {

		return new LoadError( `${name}: the asset is larger than the limit of ${_policy.maxAssetBytes} bytes (THUMBNAIL_MAX_ASSET_BYTES)`, { reason: Reason.INVALID_FILE } );

	}

	async function fetchBuffer( url ) {

		throwIfAborted( signal );
		const absolute = new URL( url, rootUrl ).href;
		const resource = resolver.resolve( absolute );
		let buffer;
		if ( resource ) buffer = await download( resource );
		else if ( /^data:/i.test( absolute ) || isBrushAsset( absolute ) ) buffer = await download( absolute ); // data: never leaves the page
		else throw missingResource( [ url ] );
		checkNotImpostor( buffer, displayName( url ) );
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
		delegate: null,

		/** Download every listed resource (the root included) and expose each as a blob: URL. */
		async prepare() {

			await Promise.all( resolver.urls().map( async ( url ) => {

				const buffer = await download( url );
				if ( closed ) return;
				const blob = URL.createObjectURL( new Blob( [ buffer ] ) );
				own.add( blob );
				blobs.set( url, blob );

			} ) );

		},

		whenIdle() {

			if ( pending === 0 ) return Promise.resolve();
			return abortable( new Promise( ( resolve ) => idleWaiters.push( resolve ) ), signal );

		},

		/**
		 * A load that threw: when the file named a buffer the asset does not have, that is why.
		 *
		 * @param {unknown} error
		 * @return {unknown}
		 */
		explain( error ) {

			const buffers = missingUris().filter( ( uri ) => ! IMAGE_NAME.test( bareName( uri ) ) );
			return buffers.length > 0 ? missingResource( buffers, error ) : error;

		},

		/**
		 * After a load that succeeded: whatever was refused or failed was optional to the loader
		 * (a texture); drop broken maps so the material's own colour shows, and note the names.
		 *
		 * @param {import('three').Object3D} object
		 * @return {{missing_textures?: string[]}} Notes for the version's render settings.
		 */
		finish( object ) {

			dropBrokenTextures( object );
			const missing = missingUris();
			return missing.length > 0 ? { missing_textures: [ ...new Set( missing.map( displayName ) ) ] } : {};

		},

		close() {

			closed = true;
			signal.removeEventListener( 'abort', onAbort );
			for ( const blob of own ) URL.revokeObjectURL( blob );

		},
	};

	function missingUris() {

		return [ ...new Set( [ ...refused.values(), ...failed ] ) ];

	}

}

function missingResource( uris, cause ) {

	const names = [ ...new Set( uris.map( ( uri ) => /^data:/i.test( uri ) ? displayName( uri ) : String( uri ) ) ) ];
	return new LoadError( `Missing resource: ${names.join( ', ' )} (not among the asset's files)`, { reason: Reason.MISSING_RESOURCE, cause } );

}

/**
 * Take textures without image data off their materials, so a missing map draws the material's
 * own colour instead of black.
 *
 * @param {import('three').Object3D} root
 */
function dropBrokenTextures( root ) {

	root.traverse( ( node ) => {

		const materials = Array.isArray( node.material ) ? node.material : node.material ? [ node.material ] : [];
		for ( const material of materials ) {

			for ( const slot of TEXTURE_SLOTS ) {

				const texture = material[ slot ];
				if ( ! texture || ! texture.isTexture || hasImageData( texture ) ) continue;
				material[ slot ] = null;
				material.needsUpdate = true;
				texture.dispose();

			}

		}

	} );

}

function hasImageData( texture ) {

	if ( texture.isRenderTargetTexture || texture.isVideoTexture || texture.isCompressedTexture || texture.isDataTexture ) return true;
	const image = texture.image;
	if ( ! image ) return false;
	if ( typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement ) return image.complete && image.naturalWidth > 0;
	if ( Array.isArray( image ) ) return image.length > 0;
	return ( image.width || 0 ) > 0 || ( image.data !== undefined );

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
	const listed = new Set();

	function add( url, filename ) {

		const path = normalisePath( filename || url.split( /[?#]/ )[ 0 ].split( '/' ).pop() );
		listed.add( url );
		byPath.set( path, url );
		byPath.set( path.toLowerCase(), url );
		const name = path.split( '/' ).pop().toLowerCase();
		for ( const key of new Set( [ name, storedName( name ) ] ) ) {

			if ( byName.has( key ) && byName.get( key ) !== url ) ambiguous.add( key );
			byName.set( key, url );

		}

		for ( const each of ambiguous ) byName.delete( each );

	}

	for ( const resource of resources ) {

		if ( resource && resource.url ) add( new URL( resource.url, base ).href, resource.filename );

	}

	function find( relative ) {

		const path = normalisePath( relative );
		const name = path.split( '/' ).pop().toLowerCase();
		return byPath.get( path ) || byPath.get( path.toLowerCase() ) || byName.get( name ) || byName.get( storedName( name ) ) || null;

	}

	/** The listed resource a URL names, or null. */
	function resolve( url ) {

		let absolute;
		try {

			absolute = new URL( url, resourcePath ).href;

		} catch {

			return find( url );

		}

		if ( listed.has( absolute ) ) return absolute;
		const bare = absolute.split( /[?#]/ )[ 0 ];
		if ( bare.startsWith( resourcePath ) ) return find( bare.slice( resourcePath.length ) );
		// Another host or folder (an absolute Windows path, a dead brush host): match by file
		// name only, and only names that are the asset's own.
		const name = normalisePath( bare ).split( '/' ).pop().toLowerCase();
		return byName.get( name ) || byName.get( storedName( name ) ) || null;

	}

	return {
		add,
		resolve,
		find,
		isListed: ( url ) => listed.has( url ),
		list: () => [ ...byPath.keys() ].filter( ( key, index, keys ) => keys.indexOf( key ) === index ),
		urls: () => [ ...listed ],
	};

}

/**
 * The name a file gets when it is uploaded through a FileField: Django's
 * `Storage.get_valid_name` turns spaces into underscores and drops characters other than
 * letters, digits, `-`, `_` and `.`, so "fuze uv.jpg" is stored as "fuze_uv.jpg" while the
 * model still asks for the first.
 *
 * @param {string} name
 * @return {string}
 */
function storedName( name ) {

	return name.trim().replace( / /g, '_' ).replace( /[^-\p{L}\p{N}_.]/gu, '' );

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

function bareName( url ) {

	return String( url ).split( /[?#]/ )[ 0 ].replace( /\\/g, '/' ).split( '/' ).pop();

}

function displayName( url ) {

	if ( /^data:/i.test( url ) ) return 'an embedded data URI';
	const name = bareName( url ) || String( url );
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

/**
 * The first bytes of a buffer as text (sniffing headers).
 *
 * @param {ArrayBuffer} buffer
 * @param {number} [length=4096]
 * @return {string}
 */
function headText( buffer, length = 4096 ) {

	return _textDecoder.decode( new Uint8Array( buffer, 0, Math.min( length, buffer.byteLength ) ) ).replace( /^\uFEFF/, '' );

}

export {
	MODEL_FETCH_CREDENTIALS,
	configureFetchPolicy,
	createLoadContext,
	createResourceResolver,
	displayName,
	headText,
};
