/**
 * The one fetch wrapper for the thumbnail API.
 *
 * Sends the bearer token (only ever in the Authorization header), sends and reads JSON (an
 * upload's image goes as raw bytes: no base64 for the server to decode), keeps
 * asset ids as strings (ids are 64-bit; a JSON number above 2**53 would be rounded), surfaces
 * the server's `detail` as the error message, and retries network errors, 5xx and 429 with
 * exponential backoff. Other 4xx answers are final. A 401 asks the token provider for a fresh
 * token once.
 */
import { delay } from './signals.js';

/** An HTTP error answered by the API (or a network failure, status 0). */
class ApiError extends Error {

	/**
	 * @param {string} message - The server's `detail`, or a description.
	 * @param {{status?: number, body?: unknown, cause?: unknown}} [options]
	 */
	constructor( message, { status = 0, body = null, cause } = {} ) {

		super( message, { cause } );
		this.name = 'ApiError';
		this.status = status;
		this.body = body;

	}

	/** Whether trying again may help (network errors, 5xx, 429). */
	get retryable() {

		return this.status === 0 || this.status === 429 || this.status >= 500;

	}

}

/**
 * JSON.parse that keeps integers beyond 2**53 as their exact source text (string), so an id
 * sent as a number by mistake is never rounded.
 *
 * @param {string} text
 * @return {unknown}
 */
function parseJson( text ) {

	return JSON.parse( text, ( key, value, context ) => {

		if ( typeof value === 'number' && ! Number.isSafeInteger( value ) && Number.isInteger( value ) && context && typeof context.source === 'string' ) {

			return context.source;

		}

		return value;

	} );

}

/**
 * Create an API client.
 *
 * @param {Object} options
 * @param {string} options.baseUrl - API root: the page config's `apiBase` (config.js).
 * @param {function({force?: boolean}): Promise<string|null>} options.getToken - Token provider;
 *   `force` asks for a new token (after a 401).
 * @param {number} [options.retries=4] - Extra attempts for retryable failures.
 * @param {number} [options.baseDelayMs=500] - First backoff delay; doubles each attempt.
 * @param {number} [options.maxDelayMs=8000]
 * @param {typeof fetch} [options.fetchImpl]
 * @param {function(ApiError, number, number): void} [options.onRetry] - (error, attempt, delayMs).
 * @return {ApiClient}
 */
function createApiClient( { baseUrl, getToken, retries = 4, baseDelayMs = 500, maxDelayMs = 8000, fetchImpl, onRetry } = {} ) {

	if ( typeof baseUrl !== 'string' ) throw new TypeError( 'createApiClient needs baseUrl (the page config\'s apiBase)' );
	const root = baseUrl.replace( /\/+$/, '' );
	const doFetch = fetchImpl || ( ( ...args ) => fetch( ...args ) );

	/**
	 * One request, with retries.
	 *
	 * @param {string} method
	 * @param {string} path - Path under the base URL, e.g. "/admin/thumbnail-jobs/claim".
	 * @param {{body?: unknown, raw?: Blob, query?: Object, signal?: AbortSignal, retry?: boolean, keepalive?: boolean}} [options] -
	 *   `body` is sent as JSON; `raw` as it is, with its own type as the Content-Type.
	 * @return {Promise<any>} Parsed JSON (null for an empty body).
	 */
	async function request( method, path, { body, raw, query, signal, retry = true, keepalive = false } = {} ) {

		const url = root + path + queryString( query );
		let forcedToken = false;

		for ( let attempt = 0; ; attempt ++ ) {

			try {

				return await once( method, url, { body, raw, signal, keepalive, forceToken: forcedToken } );

			} catch ( error ) {

				if ( signal && signal.aborted ) throw error;
				if ( ! ( error instanceof ApiError ) ) throw error;
				if ( error.status === 401 && ! forcedToken ) {

					forcedToken = true;
					attempt --;
					continue;

				}

				if ( ! retry || ! error.retryable || attempt >= retries ) throw error;
				const wait = backoff( attempt, error );
				if ( onRetry ) onRetry( error, attempt + 1, wait );
				await delay( wait, signal );

			}

		}

	}

	async function once( method, url, { body, raw, signal, keepalive, forceToken } ) {

		const headers = { Accept: 'application/json' };
		const token = getToken ? await getToken( { force: forceToken } ) : null;
		if ( token ) headers.Authorization = `Bearer ${token}`;
		if ( raw !== undefined ) headers[ 'Content-Type' ] = raw.type;
		else if ( body !== undefined ) headers[ 'Content-Type' ] = 'application/json';

		let response;
		try {

			response = await doFetch( url, {
				method,
				headers,
				body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify( body ),
				signal,
				keepalive,
				// The API authenticates by the bearer header alone; no cookie goes with it.
				credentials: 'omit',
				cache: 'no-store',
			} );

		} catch ( error ) {

			if ( signal && signal.aborted ) throw error;
			throw new ApiError( `Network error: ${error.message}`, { status: 0, cause: error } );

		}

		const text = await response.text();
		let data = null;
		if ( text ) {

			try {

				data = parseJson( text );

			} catch {

				data = null;

			}

		}

		if ( ! response.ok ) {

			const detail = data && typeof data.detail === 'string' ? data.detail : `HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`;
			const error = new ApiError( detail, { status: response.status, body: data } );
			error.retryAfter = Number( response.headers.get( 'Retry-After' ) ) || 0;
			throw error;

		}

		return data;

	}

	function backoff( attempt, error ) {

		const exponential = Math.min( maxDelayMs, baseDelayMs * 2 ** attempt );
		const jittered = exponential * ( 0.75 + Math.random() * 0.5 );
		const hinted = error.retryAfter ? Math.min( maxDelayMs * 4, error.retryAfter * 1000 ) : 0;
		return Math.round( Math.max( jittered, hinted ) );

	}

	const id = ( value ) => encodeURIComponent( String( value ) );

	/** @typedef {ReturnType<typeof createApiClient>} ApiClient */
	return {
		request,

		/**
		 * Lease the next assets to render.
		 *
		 * @param {{runnerId: string, runId?: string|null, count: number, filters?: Object}} params -
		 *   `filters` are the API's work filters as it names them (admin_tools/filters.py), e.g.
		 *   `{viewer_compatible_only: true, selection: '…'}`; sent as they are.
		 * @param {AbortSignal} [signal]
		 * @return {Promise<{assets: Object[], lease_seconds: number, remaining: number}>}
		 */
		claim( { runnerId, runId = null, count, filters = {} }, signal ) {

			return request( 'POST', '/admin/thumbnail-jobs/claim', {
				signal,
				body: { ...filters, runner_id: runnerId, run_id: runId || null, count },
			} );

		},

		/**
		 * Give back leases: those of `assetIds`, or every lease the runner holds.
		 *
		 * @param {{runnerId: string, assetIds?: string[]|null, keepalive?: boolean}} params
		 * @return {Promise<{released: number}>}
		 */
		release( { runnerId, assetIds = null, keepalive = false } ) {

			return request( 'POST', '/admin/thumbnail-jobs/release', {
				keepalive,
				retry: ! keepalive,
				body: { runner_id: runnerId, asset_ids: assetIds ? assetIds.map( String ) : null },
			} );

		},

		/**
		 * Tell the fleet this runner lives (admin_tools/fleet.py); `stopping` says goodbye.
		 *
		 * @param {{runnerId: string, renderer?: string, done?: number, failed?: number, ratePerMinute?: number, stopping?: boolean, keepalive?: boolean}} params
		 * @return {Promise<{runner: Object, interval_seconds: number}>}
		 */
		heartbeat( { runnerId, renderer = '', done = 0, failed = 0, ratePerMinute = 0, stopping = false, keepalive = false } ) {

			return request( 'POST', '/admin/thumbnail-jobs/heartbeat', {
				keepalive,
				retry: false,
				body: {
					runner_id: runnerId, host: 'browser', version: 'page', renderer: String( renderer ).slice( 0, 255 ),
					done, failed, rate_per_minute: ratePerMinute, stopping,
				},
			} );

		},

		/**
		 * Read-only listing of assets without a thumbnail.
		 *
		 * @param {{limit?: number, offset?: number, filters?: Object}} [params] - `filters` as for claim().
		 * @return {Promise<{assets: Object[], total_count: number, has_more: boolean}>}
		 */
		listMissing( { limit = 50, offset = 0, filters = {} } = {} ) {

			return request( 'GET', '/admin/assets/missing-thumbnails', { query: { ...filters, limit, offset } } );

		},

		/**
		 * Store a captured thumbnail (ends the lease). The image goes as raw bytes to
		 * `/thumbnail-image` (the other fields in the query string): a JPEG/PNG Blob
		 * (canvas.toBlob) as it is, a `data:image/jpeg|png;base64,` URL decoded here. Anything
		 * else, or fields too long for a URL (MAX_QUERY_LENGTH), goes as base64 JSON to
		 * `/thumbnail`, whose answer says what is wrong with it.
		 *
		 * @param {string} assetId
		 * @param {{image?: Blob, thumbnailBase64?: string, runnerId: string, renderer?: string, renderSettings?: Object}} params
		 * @param {AbortSignal} [signal]
		 * @return {Promise<{success: boolean, thumbnail_url: string, preview_image_url: string, asset_url: string, width: number, height: number, bytes: number}>}
		 */
		async uploadThumbnail( assetId, { image, thumbnailBase64, runnerId, renderer = '', renderSettings = {} }, signal ) {

			const query = { runner_id: runnerId, renderer, render_settings: JSON.stringify( renderSettings ) };
			const raw = imageBlob( image ) || imageBlob( thumbnailBase64 );
			if ( raw && queryString( query ).length <= MAX_QUERY_LENGTH ) {

				return request( 'POST', `/admin/assets/${id( assetId )}/thumbnail-image`, { signal, raw, query } );

			}

			const base64 = thumbnailBase64 !== undefined ? thumbnailBase64 : await dataUrlOf( image );
			return request( 'POST', `/admin/assets/${id( assetId )}/thumbnail`, {
				signal,
				body: { thumbnail_base64: base64, runner_id: runnerId, renderer, render_settings: renderSettings },
			} );

		},

		/**
		 * Save the rotation that stands the model upright as its `orientingRotation`.
		 *
		 * @param {string} assetId
		 * @param {{x: number, y: number, z: number, w: number}} rotation - Unit quaternion.
		 * @return {Promise<{asset_id: string, orientingRotation: Object}>}
		 */
		saveOrientation( assetId, { x, y, z, w } ) {

			return request( 'POST', `/admin/assets/${id( assetId )}/orientation`, { body: { x, y, z, w } } );

		},

		/**
		 * Record why an asset could not be rendered (ends the lease).
		 *
		 * @param {string} assetId
		 * @param {{reason: string, detail?: string, runnerId: string}} params
		 * @return {Promise<{attempts: number, reason: string}>}
		 */
		reportFailure( assetId, { reason, detail = '', runnerId } ) {

			return request( 'POST', `/admin/assets/${id( assetId )}/thumbnail-failure`, {
				body: { reason: String( reason ).slice( 0, 64 ), detail: String( detail ).slice( 0, 4000 ), runner_id: runnerId },
			} );

		},
	};

}

const DATA_URL = /^data:(image\/(?:jpeg|png));base64,/i;
// Longest query string the raw upload sends: servers and proxies cap the request line at a
// few KB (gunicorn: 4094 bytes); longer fields (render_settings may hold 16 KB) go as JSON.
const MAX_QUERY_LENGTH = 2048;

/**
 * The upload's image as a Blob for the raw endpoint, or null: a Blob as it is (the server
 * answers a type it does not take with 415), a JPEG/PNG data URL decoded (null when its
 * base64 is broken: the JSON upload reports that).
 *
 * @param {unknown} image
 * @return {Blob|null}
 */
function imageBlob( image ) {

	if ( typeof Blob !== 'undefined' && image instanceof Blob ) return image;
	if ( typeof image !== 'string' ) return null;
	const match = DATA_URL.exec( image );
	if ( ! match ) return null;
	const text = image.slice( match[ 0 ].length );
	let bytes;
	try {

		if ( typeof Uint8Array.fromBase64 === 'function' ) {

			bytes = Uint8Array.fromBase64( text );

		} else {

			const binary = atob( text );
			bytes = new Uint8Array( binary.length );
			for ( let i = 0; i < binary.length; i ++ ) bytes[ i ] = binary.charCodeAt( i );

		}

	} catch {

		return null;

	}

	return bytes.length ? new Blob( [ bytes ], { type: match[ 1 ].toLowerCase() } ) : null;

}

/**
 * A Blob as a data URL, for the JSON upload.
 *
 * @param {Blob} blob
 * @return {Promise<string>}
 */
async function dataUrlOf( blob ) {

	const bytes = new Uint8Array( await blob.arrayBuffer() );
	let binary = '';
	for ( let i = 0; i < bytes.length; i += 0x8000 ) binary += String.fromCharCode( ...bytes.subarray( i, i + 0x8000 ) );
	return `data:${blob.type};base64,${btoa( binary )}`;

}

function queryString( query ) {

	if ( ! query ) return '';
	const params = new URLSearchParams();
	for ( const [ key, value ] of Object.entries( query ) ) {

		if ( value !== undefined && value !== null ) params.set( key, String( value ) );

	}

	const text = params.toString();
	return text ? `?${text}` : '';

}

export { ApiError, createApiClient, dataUrlOf };
