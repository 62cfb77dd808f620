/**
 * The page configuration, read in one place.
 *
 * Both renderer pages (the admin generator and the headless page) embed the same
 * configuration as JSON (`batch-thumbs-config`, built by admin_tools/pageconfig.py): the API
 * base, the render defaults from the THUMBNAIL_* settings, the bounds to clamp to, and the
 * decoder folders. No module carries its own copy of a default: a value that is missing or
 * out of bounds falls back to, or is clamped by, what the page says.
 */
import { parseBackground } from './renderer.js';
import { turntableFrames } from './turntable.js';

const CONFIG_ID = 'batch-thumbs-config';

let _cached = null;

/**
 * The page's configuration (an empty object where there is none, e.g. under Node).
 *
 * @param {Document} [doc]
 * @return {Object}
 */
function readPageConfig( doc = globalThis.document ) {

	if ( doc === globalThis.document && _cached ) return _cached;
	let config = {};
	const element = doc ? doc.getElementById( CONFIG_ID ) : null;
	if ( element ) {

		try {

			config = JSON.parse( element.textContent ) || {};

		} catch {

			config = {};

		}

	}

	if ( doc === globalThis.document ) _cached = config;
	return config;

}

function clampNumber( value, [ min, max ] = [ - Infinity, Infinity ], fallback, round = false ) {

	let number = Number( value );
	if ( value === null || value === undefined || value === '' || ! Number.isFinite( number ) || number <= 0 ) number = Number( fallback );
	if ( ! Number.isFinite( number ) ) return undefined;
	if ( round ) number = Math.round( number );
	return Math.min( max, Math.max( min, number ) );

}

/**
 * Render settings with the page's defaults filled in and its bounds applied.
 *
 * @param {{width?: unknown, height?: unknown, quality?: unknown, background?: unknown, timeoutMs?: unknown, turntable?: unknown}} values
 * @param {Object} [config] - The page configuration (default: this page's).
 * @return {{width: number, height: number, quality: number, background: string, timeoutMs: number, turntable: number}}
 *   `turntable`: frames of the turntable preview, 0 = none (turntable.js).
 */
function renderSettings( values = {}, config = readPageConfig() ) {

	const defaults = config.defaults || {};
	const limits = config.limits || {};
	const defaultTimeoutMs = Number( defaults.timeoutSeconds ) * 1000;
	return {
		width: clampNumber( values.width, limits.size, defaults.width, true ),
		height: clampNumber( values.height, limits.size, defaults.height, true ),
		quality: clampNumber( values.quality, limits.quality, defaults.quality ),
		background: parseBackground( values.background ) || parseBackground( defaults.background ) || undefined,
		timeoutMs: clampNumber( values.timeoutMs, undefined, defaultTimeoutMs ),
		turntable: turntableFrames( values.turntable, config ),
	};

}

/**
 * A batch size within the page's bounds (its default when unset).
 *
 * @param {unknown} value
 * @param {Object} [config]
 * @return {number}
 */
function batchSize( value, config = readPageConfig() ) {

	return clampNumber( value, ( config.limits || {} ).batchSize, ( config.defaults || {} ).batchSize, true );

}

export { batchSize, readPageConfig, renderSettings };
