/**
 * Bearer tokens for the admin page.
 *
 * A logged-in staff user gets a short-lived token from the page-token endpoint (same-origin
 * POST with the session cookie and the CSRF token); it is renewed shortly before it expires.
 * A token the admin stored in `localStorage['icosa_jwt_token']` is the fallback. Tokens live in
 * this module's closure only: never in the HTML, the URL or on `window`.
 */

const STORAGE_KEY = 'icosa_jwt_token';
const REFRESH_MARGIN_MS = 60000;

/**
 * Expiry of a JWT in ms since the epoch, read from its payload (not verified: the server does
 * that). Null when the token has no readable `exp`.
 *
 * @param {string} token
 * @return {number|null}
 */
function tokenExpiry( token ) {

	try {

		const payload = token.split( '.' )[ 1 ];
		const json = atob( payload.replace( /-/g, '+' ).replace( /_/g, '/' ).padEnd( Math.ceil( payload.length / 4 ) * 4, '=' ) );
		const exp = JSON.parse( json ).exp;
		return Number.isFinite( exp ) ? exp * 1000 : null;

	} catch {

		return null;

	}

}

/**
 * The CSRF token: the csrftoken cookie, else a value from the page.
 *
 * @param {string} [fallback]
 * @return {string}
 */
function readCsrfToken( fallback = '' ) {

	const match = document.cookie.match( /(?:^|;\s*)csrftoken=([^;]+)/ );
	if ( match ) return decodeURIComponent( match[ 1 ] );
	const input = document.querySelector( 'input[name="csrfmiddlewaretoken"]' );
	return ( input && input.value ) || fallback || '';

}

/**
 * Create a token provider for the API client.
 *
 * @param {Object} options
 * @param {string} [options.tokenUrl] - Page-token endpoint.
 * @param {function(): string} [options.getCsrfToken]
 * @param {Storage} [options.storage=localStorage]
 * @param {function(): number} [options.now=Date.now]
 * @return {{getToken: function({force?: boolean}=): Promise<string|null>, peek: function(): (string|null), source: function(): (string|null), lastError: function(): (string|null)}}
 */
function createTokenProvider( { tokenUrl, getCsrfToken = () => readCsrfToken(), storage = globalThis.localStorage, now = Date.now } = {} ) {

	let cached = null; // {token, expiresAt, source}
	let pending = null;
	let error = null;

	function valid( entry ) {

		return entry && ( entry.expiresAt === null || entry.expiresAt - REFRESH_MARGIN_MS > now() );

	}

	async function fromSession() {

		if ( ! tokenUrl ) return null;
		let response;
		try {

			response = await fetch( tokenUrl, {
				method: 'POST',
				credentials: 'same-origin',
				cache: 'no-store',
				headers: { 'X-CSRFToken': getCsrfToken(), Accept: 'application/json' },
			} );

		} catch ( networkError ) {

			error = `Could not get a token: ${networkError.message}`;
			return null;

		}

		if ( response.redirected ) {

			error = 'Your admin session has ended: log in again';
			return null;

		}

		let data = null;
		try {

			data = await response.json();

		} catch {

			data = null;

		}

		if ( ! response.ok || ! data || typeof data.access_token !== 'string' ) {

			error = ( data && data.detail ) || ( response.status === 403 ? 'Admin access required' : `Could not get a token (HTTP ${response.status})` );
			return null;

		}

		const lifetime = Number( data.expires_in ) > 0 ? Number( data.expires_in ) * 1000 : null;
		return {
			token: data.access_token,
			expiresAt: lifetime ? now() + lifetime : tokenExpiry( data.access_token ),
			source: 'session',
		};

	}

	function fromStorage() {

		let token = null;
		try {

			token = storage ? storage.getItem( STORAGE_KEY ) : null;

		} catch {

			token = null;

		}

		if ( ! token ) return null;
		token = token.trim().replace( /^Bearer\s+/i, '' );
		const entry = { token, expiresAt: tokenExpiry( token ), source: 'localStorage' };
		if ( entry.expiresAt !== null && entry.expiresAt <= now() ) {

			error = 'The token in localStorage has expired';
			return null;

		}

		return entry;

	}

	async function refresh() {

		error = null;
		const entry = ( await fromSession() ) || fromStorage();
		cached = entry;
		return entry ? entry.token : null;

	}

	return {
		/**
		 * A valid token, renewed when it is within a minute of expiring (or when forced).
		 *
		 * @param {{force?: boolean}} [options]
		 * @return {Promise<string|null>} Null when none can be had.
		 */
		async getToken( { force = false } = {} ) {

			if ( ! force && valid( cached ) ) return cached.token;
			if ( ! pending ) pending = refresh().finally( () => {

				pending = null;

			} );
			return pending;

		},
		/** The cached token without any request (for `keepalive` requests on unload). */
		peek: () => ( cached ? cached.token : null ),
		/** Where the current token came from: "session", "localStorage" or null. */
		source: () => ( cached ? cached.source : null ),
		/** Why the last attempt found no token. */
		lastError: () => error,
	};

}

export { createTokenProvider, readCsrfToken };
