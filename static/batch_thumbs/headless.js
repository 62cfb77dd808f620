/**
 * Entry point for the headless runner. Python Playwright opens the headless page and calls
 * these functions through `page.evaluate`, e.g.
 *
 *     const h = await import('/static/batch_thumbs/headless.js');
 *     await h.setup({token, runnerId: 'ci-1'});
 *     return await h.processOne(asset, {});
 *
 * The runner uses the two halves instead, `startOne` (returns once the picture is taken) and
 * `finishOne` (waits for its upload), so one asset's upload overlaps the next one's render in
 * the same page: a single page then costs about as much per model as the render floor.
 *
 * Everything returned is plain, JSON-serialisable data. Importing this module has no side
 * effects; state lives in this module only (nothing on `window`).
 */
import { createApiClient } from './api-client.js';
import { readPageConfig, renderSettings } from './config.js';
import { configureDecoders } from './loaders/gltf.js';
import { configureFormats } from './loaders/format-table.js';
import { configureFetchPolicy } from './loaders/context.js';
import { configureBrushes } from './brushes.js';
import { configureQuality } from './capture.js';
import { configurePresentation } from './presentation.js';
import { processAsset } from './pipeline.js';
import { loadEnvironment } from './environment.js';
import * as rendering from './renderer.js';

const _state = {
	context: null,
	environmentNote: '',
	api: null,
	options: {},
	controllers: new Map(), // asset id -> AbortController, for every asset in flight
	pending: new Map(), // asset id -> {result: Promise<AssetResult>, settled}, until finishOne
};

/**
 * Create the renderer and the API client. Calling it again reconfigures the options and the
 * token; the renderer is kept unless the output size changes. What `config` leaves out comes
 * from the page's own configuration (config.js): the gallery's defaults and decoder folders.
 *
 * @param {Object} config
 * @param {string} [config.token] - Bearer token for the API.
 * @param {string} [config.apiBase] - API root (default: the page's).
 * @param {string} [config.runnerId="headless"]
 * @param {number} [config.width]
 * @param {number} [config.height]
 * @param {number} [config.quality] - 0..1.
 * @param {string} [config.background]
 * @param {number} [config.timeoutSeconds]
 * @param {{draco?: string, basis?: string}} [config.decoders] - Decoder folder URLs.
 * @param {string|null} [config.brushAssetsUrl] - Brush assets base URL (default: the page's).
 * @param {boolean} [config.show=false] - Show the live canvas on the page (a person watching a
 *   headed browser, a test reading it). Off for a run: a canvas in the document is composited
 *   after every draw, which under software compositing reads the whole frame back once more
 *   (~10 % of the GPU process's CPU on SwiftShader, bench/README.md).
 * @param {HTMLElement} [config.container] - Where to show it (default: the page's main element).
 * @param {boolean} [config.antialias=true] - MSAA (off renders faster on software GL).
 * @param {Object} [config.formats] - The format table; defaults to the page config's.
 * @param {(string|null)} [config.brushAssetsUrl] - Fetch policy; defaults to the page config's.
 * @param {number} [config.maxAssetBytes] - Per-asset byte cap; defaults to the page config's.
 * @param {Object} [config.quality] - Quality thresholds; default the page config's.
 * @param {Object} [config.upAxis] - Default up axis per format; default the page config's.
 * @param {boolean} [config.warmUp=false] - Compile and draw the common shader programs now
 *   (renderer.js `warmUp`). Off by default: with the baked environment a fresh page's first
 *   draw is a few hundred ms, and the warm-up (0.5 s on SwiftShader) made the first thumbnail
 *   later, not sooner (bench/README.md "warmUp()").
 * @return {Promise<{rendererString: string, maxTextureSize: number, width: number, height: number, warmUp: ?{ms: number, programs: number},
 *   environment: 'baked'|'generated', environmentNote?: string}>} `environmentNote`: why the baked
 *   environment was not used (environment.js), when it was not.
 */
async function setup( config = {} ) {

	const page = readPageConfig();
	const settings = renderSettings( {
		...config,
		timeoutMs: config.timeoutSeconds ? Number( config.timeoutSeconds ) * 1000 : undefined,
	} );
	const { width, height } = settings;
	if ( ! _state.context ) {

		const loaded = await loadEnvironment( { url: page.environmentUrl } );
		_state.environmentNote = loaded.note;
		_state.context = rendering.createRenderer( { width, height, antialias: config.antialias !== false, environment: loaded.baked } );
		_state.context.canvas.style.maxWidth = '100%';

	} else if ( _state.context.width !== width || _state.context.height !== height ) {

		_state.context.setSize( width, height );

	}

	showCanvas( _state.context.canvas, config );
	const decoders = config.decoders || page.decoders || {};
	configureDecoders( { draco: decoders.draco, basis: decoders.basis, renderer: _state.context.renderer } );

	configureFormats( config.formats || page.formats );
	configureFetchPolicy( { ...page, ...config } );
	configureBrushes( { url: 'brushAssetsUrl' in config ? config.brushAssetsUrl : page.brushAssetsUrl } );
	configureQuality( config.quality || page.quality || null );
	configurePresentation( { upAxis: config.upAxis || page.upAxis } );

	const token = config.token || null;
	_state.api = createApiClient( {
		baseUrl: config.apiBase || page.apiBase,
		getToken: async () => token,
	} );
	_state.options = { ...settings, runnerId: String( config.runnerId || 'headless' ) };

	const warmed = config.warmUp === true ? await rendering.warmUp( _state.context ) : null;

	return {
		rendererString: _state.context.rendererString,
		maxTextureSize: _state.context.maxTextureSize,
		width: _state.context.width,
		height: _state.context.height,
		warmUp: warmed,
		environment: _state.context.environmentSource,
		...( _state.environmentNote ? { environmentNote: _state.environmentNote } : {} ),
	};

}

/**
 * Attach the canvas where `config` asks to show it, or take it out of the document.
 *
 * @param {HTMLCanvasElement} canvas
 * @param {{show?: boolean, container?: HTMLElement}} config
 */
function showCanvas( canvas, { show = false, container = null } ) {

	const parent = container || ( show ? document.getElementById( 'batch-thumbs-headless' ) || document.body : null );
	if ( parent && canvas.parentNode !== parent ) parent.appendChild( canvas );
	else if ( ! parent && canvas.parentNode ) canvas.remove();

}

function requireSetup() {

	if ( ! _state.context ) throw new Error( 'headless.setup(config) must be called first' );

}

/**
 * Render, capture and upload one asset (or record its failure).
 *
 * @param {Object} asset - As returned by the claim endpoint.
 * @param {Object} [options] - Overrides of the setup options for this asset.
 * @return {Promise<import('./pipeline.js').AssetResult>}
 */
async function processOne( asset, options = {} ) {

	return run( asset, options );

}

/**
 * Start one asset and return as soon as its picture is taken (or it failed): the upload goes
 * on in the background and `finishOne` collects the result. The renderer is free again when
 * this returns (the model is disposed before the upload), so the next `startOne` may begin.
 *
 * @param {Object} asset
 * @param {Object} [options]
 * @return {Promise<{assetId: string, uploading: boolean, result?: import('./pipeline.js').AssetResult}>}
 *   `result` when the asset is already finished (it failed before any upload).
 */
async function startOne( asset, options = {} ) {

	requireSetup();
	const assetId = String( asset.id );
	const previous = _state.pending.get( assetId );
	if ( previous && ! previous.settled ) throw new Error( `Asset ${assetId} is already in flight` );
	let captured;
	const uploading = new Promise( ( resolve ) => {

		captured = resolve;

	} );
	const finished = run( asset, options, ( name ) => {

		if ( name === 'upload' ) captured();

	} );
	const first = await Promise.race( [ uploading.then( () => null ), finished ] );
	if ( first ) return { assetId, uploading: false, result: first };
	// Kept until finishOne collects it: the upload may well finish before the runner asks.
	const entry = { result: finished, settled: false };
	finished.finally( () => {

		entry.settled = true;

	} );
	_state.pending.set( assetId, entry );
	return { assetId, uploading: true };

}

/**
 * The result of an asset `startOne` left uploading.
 *
 * @param {string} assetId
 * @return {Promise<import('./pipeline.js').AssetResult>}
 */
async function finishOne( assetId ) {

	const id = String( assetId );
	const entry = _state.pending.get( id );
	if ( ! entry ) throw new Error( `Asset ${id} is not in flight` );
	try {

		return await entry.result;

	} finally {

		if ( _state.pending.get( id ) === entry ) _state.pending.delete( id );

	}

}

async function run( asset, options, onStage ) {

	requireSetup();
	const assetId = String( asset.id );
	const controller = new AbortController();
	_state.controllers.set( assetId, controller );
	try {

		return await processAsset( {
			asset,
			renderer: _state.context,
			api: _state.api,
			options: { ..._state.options, ...options },
			signal: controller.signal,
			onStage,
		} );

	} finally {

		if ( _state.controllers.get( assetId ) === controller ) _state.controllers.delete( assetId );

	}

}

/**
 * GPU memory counters and, where Chromium exposes it, the JS heap.
 *
 * @return {{geometries: number, textures: number, programs: number, jsHeapUsed?: number, jsHeapTotal?: number}}
 */
function memory() {

	requireSetup();
	const info = rendering.getRendererInfo( _state.context.renderer );
	const out = { ...info.memory, programs: info.programs };
	if ( performance.memory ) {

		out.jsHeapUsed = performance.memory.usedJSHeapSize;
		out.jsHeapTotal = performance.memory.totalJSHeapSize;

	}

	return out;

}

/**
 * Abort assets in flight (their results come back with status "skipped").
 *
 * @param {string} [message]
 * @param {string} [assetId] - Only this asset; all of them when left out.
 * @return {boolean} Whether something was in flight.
 */
function abort( message = 'Aborted by the runner', assetId = null ) {

	const targets = assetId == null
		? [ ..._state.controllers.values() ]
		: [ _state.controllers.get( String( assetId ) ) ].filter( Boolean );
	for ( const controller of targets ) controller.abort( new Error( message ) );
	return targets.length > 0;

}

export { setup, processOne, startOne, finishOne, memory, abort };
