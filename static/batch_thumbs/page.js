/**
 * The Batch Thumbnail Generator admin page: wires the DOM in the template to a
 * {@link BatchRun}. All user-controlled text (asset names, owners, server messages) goes into
 * the page through `textContent` or element properties, never as HTML.
 *
 * Configuration comes from the page (config.js reads it; the template renders the form's
 * defaults from the same configuration); there is no inline
 * JavaScript and nothing is put on `window`.
 */
import { ApiError, createApiClient } from './api-client.js';
import { BatchRun, RunState } from './batch-run.js';
import { configureDecoders } from './loaders/gltf.js';
import { configureFormats } from './loaders/format-table.js';
import { configureFetchPolicy } from './loaders/context.js';
import { configureBrushes } from './brushes.js';
import { configureQuality } from './capture.js';
import { configurePresentation } from './presentation.js';
import { batchSize, readPageConfig, renderSettings } from './config.js';
import { createRenderer } from './renderer.js';
import { loadEnvironment } from './environment.js';
import { createTokenProvider, readCsrfToken } from './token.js';

const LOG_LIMIT = 500;
const GRID_LIMIT = 200;
const TOKEN_REQUIRED = 'JWT token required';
const ADMIN_REQUIRED = 'Admin access required';

const STATUS_TEXT = {
	[ RunState.IDLE ]: 'Ready',
	[ RunState.RUNNING ]: 'Running',
	[ RunState.PAUSED ]: 'Paused',
	[ RunState.STOPPING ]: 'Stopping…',
	[ RunState.STOPPED ]: 'Stopped',
	[ RunState.FINISHED ]: 'Finished: no assets left to process',
	[ RunState.ERROR ]: 'Stopped by an error',
};

const STAGE_TEXT = {
	load: 'Loading',
	frame: 'Framing',
	render: 'Rendering',
	review: 'Waiting for review',
	orientation: 'Saving orientation',
	upload: 'Uploading',
};

/**
 * An http(s) URL safe to put in an href/src, or null (refuses `javascript:` and the like).
 *
 * @param {unknown} value
 * @return {string|null}
 */
function safeUrl( value ) {

	if ( typeof value !== 'string' || ! value ) return null;
	try {

		const url = new URL( value, location.href );
		return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;

	} catch {

		return null;

	}

}

/**
 * Milliseconds as "1 h 05 min", "3 min 20 s" or "12 s".
 *
 * @param {number|null} ms
 * @return {string}
 */
function formatDuration( ms ) {

	if ( ms === null || ! Number.isFinite( ms ) ) return '–';
	const seconds = Math.round( ms / 1000 );
	if ( seconds < 60 ) return `${seconds} s`;
	const minutes = Math.floor( seconds / 60 );
	if ( minutes < 60 ) return `${minutes} min ${String( seconds % 60 ).padStart( 2, '0' )} s`;
	return `${Math.floor( minutes / 60 )} h ${String( minutes % 60 ).padStart( 2, '0' )} min`;

}

/** How the review panel names a capture's quality flags. */
const FLAG_TEXT = {
	dark_subject: 'the subject is nearly black',
	low_contrast: 'the subject is nearly the background colour',
	tiny_subject: 'the subject is tiny',
	clipped: 'the subject touches the edge',
};

/** The page controller. */
class GeneratorPage {

	/**
	 * @param {HTMLElement} root - The #batch-thumbs element.
	 * @param {Object} config - Parsed page configuration.
	 */
	constructor( root, config ) {

		this.root = root;
		this.config = config;
		this.el = this._collectElements();
		this.run = null;
		this.context = null;
		this.failures = new Map();
		this.gridCount = 0;
		this.accessOk = false;
		this._reviewResolve = null;
		this.tokens = createTokenProvider( {
			tokenUrl: config.tokenUrl,
			getCsrfToken: () => readCsrfToken( config.csrfToken ),
		} );
		this.api = createApiClient( {
			baseUrl: config.apiBase,
			getToken: ( options ) => this.tokens.getToken( options ),
			onRetry: ( error, attempt, wait ) => this.log( 'warning', `${error.message} — retrying (attempt ${attempt}) in ${( wait / 1000 ).toFixed( 1 )} s` ),
		} );

	}

	_collectElements() {

		const ids = [
			'alert', 'hidden-warning', 'selection', 'selection-text', 'backlog',
			'batch-size', 'width', 'height', 'quality', 'background', 'turntable', 'viewer-compatible', 'include-failed', 'review-mode', 'review-flagged',
			'start', 'pause', 'skip', 'stop', 'retry', 'status', 'progress', 'progress-text',
			'stat-total', 'stat-completed', 'stat-failed', 'stat-skipped', 'stat-success', 'stat-rate', 'stat-eta',
			'preview', 'review', 'review-image', 'review-flags', 'accept', 'retake', 'turn', 'reject', 'renderer',
			'current-id', 'current-name', 'current-owner', 'current-format', 'current-stage', 'current-link', 'current-page',
			'grid', 'grid-empty', 'failures-table', 'failures-body', 'failures-empty', 'log',
		];
		const elements = {};
		for ( const id of ids ) {

			const key = id.replace( /-([a-z])/g, ( _, c ) => c.toUpperCase() );
			elements[ key ] = this.root.querySelector( `#bt-${id}` );

		}

		return elements;

	}

	// -----------------------------------------------------------------------------------------
	// Start-up

	/** Set up the form, the renderer and the token; enable Start when all is well. */
	async init() {

		this._bindControls();
		this._watchVisibility();
		this._showSelection();

		try {

			const loaded = await loadEnvironment( { url: this.config.environmentUrl } );
			if ( loaded.note ) console.warn( loaded.note );
			this.context = createRenderer( { width: this._settings().width, height: this._settings().height, environment: loaded.baked } );

		} catch ( error ) {

			this.showAlert( error.message );
			this.setStatus( 'WebGL unavailable' );
			this._setRootState( 'error' );
			return;

		}

		this.el.preview.appendChild( this.context.canvas );
		this.el.renderer.textContent = `Renderer: ${this.context.rendererString}`;
		const decoders = this.config.decoders || {};
		configureDecoders( { draco: decoders.draco, basis: decoders.basis, renderer: this.context.renderer } );
		configureFormats( this.config.formats );
		configureFetchPolicy( this.config );
		configureBrushes( { url: this.config.brushAssetsUrl } );
		configureQuality( this.config.quality || null );
		configurePresentation( { upAxis: this.config.upAxis } );

		if ( await this._checkAccess() ) {

			this.accessOk = true;
			this._setRootState( 'ready' );
			this._updateButtons();
			this.setStatus( STATUS_TEXT[ RunState.IDLE ] );

		}

	}

	_showSelection() {

		const selection = this.config.selection;
		if ( ! selection ) return;
		const count = Number( selection.count ) || 0;
		this.el.selectionText.textContent = `Working on a selection of ${count} asset${count === 1 ? '' : 's'}${selection.force ? '; existing thumbnails will be replaced' : ''}.`;
		this.el.selection.hidden = false;

	}

	/**
	 * Get a token and make one cheap API call, so a missing token or missing rights show at
	 * once rather than after Start.
	 *
	 * @return {Promise<boolean>}
	 */
	async _checkAccess() {

		const token = await this.tokens.getToken();
		if ( ! token ) {

			const why = this.tokens.lastError();
			this.showAlert( why && why !== TOKEN_REQUIRED ? `${TOKEN_REQUIRED}: ${why}` : TOKEN_REQUIRED );
			this.setStatus( TOKEN_REQUIRED );
			this._setRootState( 'error' );
			return false;

		}

		try {

			await this._refreshBacklog();
			return true;

		} catch ( error ) {

			this._showApiError( error );
			this._setRootState( 'error' );
			return false;

		}

	}

	/** Show how many assets still lack a thumbnail (read-only listing, one row). */
	async _refreshBacklog() {

		const settings = this._settings();
		const listing = await this.api.listMissing( {
			limit: 1,
			filters: { viewer_compatible_only: settings.viewerCompatibleOnly, include_failed: settings.includeFailed },
		} );
		const total = Number( listing && listing.total_count ) || 0;
		this.el.backlog.textContent = `${total} asset${total === 1 ? ' is' : 's are'} missing a thumbnail.`;

	}

	_showApiError( error ) {

		if ( error instanceof ApiError && error.status === 403 ) {

			this.showAlert( error.message.startsWith( ADMIN_REQUIRED ) ? error.message : `${ADMIN_REQUIRED}: ${error.message}` );
			this.setStatus( ADMIN_REQUIRED );

		} else if ( error instanceof ApiError && error.status === 401 ) {

			this.showAlert( error.message === TOKEN_REQUIRED ? TOKEN_REQUIRED : `${TOKEN_REQUIRED}: ${error.message}` );
			this.setStatus( TOKEN_REQUIRED );

		} else {

			this.showAlert( error.message );
			this.setStatus( 'Error' );

		}

	}

	// -----------------------------------------------------------------------------------------
	// Controls

	_bindControls() {

		const el = this.el;
		el.start.addEventListener( 'click', () => this.start() );
		el.pause.addEventListener( 'click', () => {

			if ( ! this.run ) return;
			if ( this.run.state === RunState.PAUSED ) this.run.resume();
			else this.run.pause();

		} );
		el.skip.addEventListener( 'click', () => {

			if ( ! this.run ) return;
			const shownId = el.currentId.dataset.assetId;
			if ( this.run.skip( shownId ) ) this.log( 'warning', `Skipping asset ${shownId}…` );

		} );
		el.stop.addEventListener( 'click', () => {

			if ( this.run ) this.run.stop();

		} );
		el.retry.addEventListener( 'click', () => this.start( { retryFailed: true } ) );
		el.accept.addEventListener( 'click', () => this._answerReview( 'accept' ) );
		el.retake.addEventListener( 'click', () => this._answerReview( 'retake' ) );
		el.turn.addEventListener( 'click', () => this._answerReview( 'turn' ) );
		el.reject.addEventListener( 'click', () => this._answerReview( 'reject' ) );

		window.addEventListener( 'pagehide', () => this._releaseOnUnload() );
		window.addEventListener( 'beforeunload', ( event ) => {

			if ( this.run && [ RunState.RUNNING, RunState.PAUSED ].includes( this.run.state ) ) {

				event.preventDefault();
				event.returnValue = '';

			}

		} );

	}

	/**
	 * The settings as entered, clamped to their bounds.
	 *
	 * @return {Object}
	 */
	_settings() {

		const el = this.el;
		const render = renderSettings( {
			width: el.width.value,
			height: el.height.value,
			quality: Number( el.quality.value ) / 100,
			background: el.background.value,
			turntable: el.turntable ? el.turntable.value : undefined,
		}, this.config );
		return {
			batchSize: batchSize( el.batchSize.value, this.config ),
			viewerCompatibleOnly: el.viewerCompatible.checked,
			includeFailed: el.includeFailed.checked,
			reviewMode: el.reviewMode.checked || el.reviewFlagged.checked, // Flagged-only is a kind of review.
			reviewFlaggedOnly: el.reviewFlagged.checked,
			...render,
		};


	}

	/**
	 * Start a run (or a run over the assets that failed so far).
	 *
	 * @param {{retryFailed?: boolean}} [options]
	 */
	async start( { retryFailed = false } = {} ) {

		if ( this.run && ! [ RunState.STOPPED, RunState.FINISHED, RunState.ERROR ].includes( this.run.state ) ) return;
		if ( ! this.el.batchSize.checkValidity() ) {

			this.el.batchSize.reportValidity();
			return;

		}

		const assetIds = retryFailed ? [ ...this.failures.keys() ] : null;
		if ( retryFailed && assetIds.length === 0 ) return;
		this.hideAlert();

		const run = new BatchRun( {
			api: this.api,
			renderer: this.context,
			runnerId: this.config.runnerId || `admin-${Math.random().toString( 36 ).slice( 2, 10 )}`,
			getSettings: () => this._settings(),
			selection: this.config.selection || null,
			assetIds,
			review: ( request ) => this._review( request ),
		} );
		this.run = run;
		if ( retryFailed ) {

			for ( const id of assetIds ) this.failures.delete( id );
			this._renderFailures();

		}

		run.addEventListener( 'state', () => this._updateButtons() );
		run.addEventListener( 'stats', ( event ) => this._renderStats( event.detail ) );
		run.addEventListener( 'log', ( event ) => this.log( event.detail.level, event.detail.message, event.detail.time ) );
		run.addEventListener( 'asset-start', ( event ) => this._showCurrent( event.detail.asset ) );
		run.addEventListener( 'stage', ( event ) => this._showStage( event.detail ) );
		run.addEventListener( 'asset-done', ( event ) => this._assetDone( event.detail.asset, event.detail.result ) );
		run.addEventListener( 'fatal', ( event ) => this._showApiError( new ApiError( event.detail.message, { status: event.detail.status } ) ) );

		this.log( 'info', retryFailed ? `Retrying ${assetIds.length} failed asset(s)` : 'Started' );
		this._setRootState( 'running' );
		await run.start();
		this._showCurrent( null );
		this._setRootState( run.state );
		this._updateButtons();
		if ( run.state !== RunState.ERROR ) await this._refreshBacklog().catch( () => undefined );

	}

	_updateButtons() {

		const el = this.el;
		const state = this.run ? this.run.state : RunState.IDLE;
		const active = state === RunState.RUNNING || state === RunState.PAUSED || state === RunState.STOPPING;
		const ready = this.context !== null && this.accessOk;
		el.start.disabled = active || ! ready;
		el.pause.disabled = ! ( state === RunState.RUNNING || state === RunState.PAUSED );
		el.pause.textContent = state === RunState.PAUSED ? 'Resume' : 'Pause';
		el.skip.disabled = ! ( active && state !== RunState.STOPPING && this.run && this.run.current );
		el.stop.disabled = ! ( state === RunState.RUNNING || state === RunState.PAUSED );
		el.retry.disabled = active || this.failures.size === 0 || ! ready;
		for ( const input of [ el.batchSize, el.viewerCompatible, el.includeFailed ] ) input.disabled = active;
		if ( this.run ) {

			let text = STATUS_TEXT[ state ] || state;
			if ( state === RunState.PAUSED && this.run.current ) text = 'Pausing after the current asset…';
			this.setStatus( text );

		}

		this.root.dataset.run = state;

	}

	// -----------------------------------------------------------------------------------------
	// Display

	_renderStats( snapshot ) {

		const el = this.el;
		el.statTotal.textContent = snapshot.total === null ? '–' : String( snapshot.total );
		el.statCompleted.textContent = String( snapshot.completed );
		el.statFailed.textContent = String( snapshot.failed );
		el.statSkipped.textContent = String( snapshot.skipped );
		el.statSuccess.textContent = snapshot.successRate === null ? '–' : `${Math.round( snapshot.successRate * 100 )}%`;
		el.statRate.textContent = snapshot.perMinute === null ? '–' : snapshot.perMinute.toFixed( 1 );
		el.statEta.textContent = snapshot.remaining === 0 ? '–' : formatDuration( snapshot.etaMs );
		if ( snapshot.total ) {

			el.progress.max = snapshot.total;
			el.progress.value = Math.min( snapshot.processed, snapshot.total );
			el.progressText.textContent = `${snapshot.processed} / ${snapshot.total}`;

		} else if ( snapshot.total === 0 ) {

			el.progress.max = 1;
			el.progress.value = 1;
			el.progressText.textContent = '0 / 0';

		} else {

			el.progress.removeAttribute( 'value' );
			el.progressText.textContent = `${snapshot.processed} processed`;

		}

		this._updateButtons();

	}

	_showCurrent( asset ) {

		const el = this.el;
		el.currentId.textContent = asset ? asset.id : '–';
		if ( asset ) el.currentId.dataset.assetId = asset.id;
		else delete el.currentId.dataset.assetId;
		el.currentName.textContent = asset ? asset.name || '(untitled)' : '–';
		el.currentOwner.textContent = asset ? asset.owner_displayname || '(no owner)' : '–';
		el.currentFormat.textContent = asset ? ( asset.formats || [] ).map( ( f ) => f.format_type ).join( ', ' ) || '(none)' : '–';
		el.currentStage.textContent = asset ? 'Starting' : '–';
		this._setLink( el.currentLink, asset && asset.admin_url );
		this._setLink( el.currentPage, asset && asset.page_url );
		this._updateButtons();

	}

	_setLink( anchor, url ) {

		const href = safeUrl( url );
		if ( href ) anchor.href = href;
		else anchor.removeAttribute( 'href' );
		anchor.hidden = ! href;

	}

	_showStage( { asset, stage, format } ) {

		if ( this.el.currentId.dataset.assetId !== asset.id ) return;
		let text = STAGE_TEXT[ stage ] || stage;
		if ( stage === 'load' && format ) {

			text = `Loading ${format.format_type}`;
			this.el.currentFormat.textContent = format.format_type;

		}

		this.el.currentStage.textContent = text;

	}

	_assetDone( asset, result ) {

		if ( this.el.currentId.dataset.assetId === asset.id ) this._showCurrent( null );
		if ( result.status === 'done' ) this._addToGrid( asset, result );
		else if ( result.status === 'failed' ) {

			this.failures.set( asset.id, { asset, reason: result.reason, detail: result.detail, attempts: result.attempts } );
			this._renderFailures();

		}

	}

	_addToGrid( asset, result ) {

		const item = document.createElement( 'li' );
		item.className = 'bt-grid-item';
		const link = document.createElement( 'a' );
		const href = safeUrl( asset.admin_url ) || safeUrl( asset.page_url );
		if ( href ) link.href = href;
		const image = document.createElement( 'img' );
		image.loading = 'lazy';
		image.decoding = 'async';
		image.alt = `Thumbnail of ${asset.name || `asset ${asset.id}`}`;
		const src = safeUrl( result.thumbnailUrl );
		if ( src ) image.src = src;
		const caption = document.createElement( 'span' );
		caption.className = 'bt-grid-caption';
		caption.textContent = asset.name || `Asset ${asset.id}`;
		link.append( image, caption );
		item.append( link );
		item.dataset.assetId = asset.id;
		this.el.grid.prepend( item );
		this.gridCount += 1;
		while ( this.el.grid.children.length > GRID_LIMIT ) this.el.grid.lastElementChild.remove();
		this.el.gridEmpty.hidden = true;

	}

	_renderFailures() {

		const body = this.el.failuresBody;
		body.replaceChildren();
		for ( const { asset, reason, detail, attempts } of this.failures.values() ) {

			const row = document.createElement( 'tr' );
			row.dataset.assetId = asset.id;
			const name = document.createElement( 'td' );
			const link = document.createElement( 'a' );
			const href = safeUrl( asset.admin_url );
			if ( href ) link.href = href;
			link.textContent = asset.name ? `${asset.name} (${asset.id})` : asset.id;
			name.append( link );
			const reasonCell = document.createElement( 'td' );
			reasonCell.className = 'bt-reason';
			reasonCell.textContent = reason || '';
			const detailCell = document.createElement( 'td' );
			detailCell.textContent = detail || '';
			const attemptsCell = document.createElement( 'td' );
			attemptsCell.textContent = attempts === undefined || attempts === null ? '–' : String( attempts );
			row.append( name, reasonCell, detailCell, attemptsCell );
			body.append( row );

		}

		const empty = this.failures.size === 0;
		this.el.failuresTable.hidden = empty;
		this.el.failuresEmpty.hidden = ! empty;
		this._updateButtons();

	}

	/**
	 * Add a timestamped line to the log.
	 *
	 * @param {'info'|'success'|'warning'|'error'} level
	 * @param {string} message
	 * @param {Date} [time]
	 */
	log( level, message, time = new Date() ) {

		const item = document.createElement( 'li' );
		item.className = `bt-log-${level}`;
		const stamp = document.createElement( 'time' );
		stamp.dateTime = time.toISOString();
		stamp.textContent = time.toLocaleTimeString( [], { hour12: false } );
		const text = document.createElement( 'span' );
		text.textContent = message;
		item.append( stamp, ' ', text );
		this.el.log.prepend( item );
		while ( this.el.log.children.length > LOG_LIMIT ) this.el.log.lastElementChild.remove();

	}

	/** @param {string} message */
	showAlert( message ) {

		this.el.alert.textContent = message;
		this.el.alert.hidden = false;

	}

	hideAlert() {

		this.el.alert.textContent = '';
		this.el.alert.hidden = true;

	}

	/** @param {string} text */
	setStatus( text ) {

		this.el.status.textContent = text;

	}

	_setRootState( state ) {

		this.root.dataset.state = state;

	}

	// -----------------------------------------------------------------------------------------
	// Review mode

	_review( { dataUrl, quality, signal } ) {

		return new Promise( ( resolve ) => {

			const finish = ( decision ) => {

				if ( signal ) signal.removeEventListener( 'abort', onAbort );
				this._reviewResolve = null;
				this.el.review.hidden = true;
				this.el.reviewImage.removeAttribute( 'src' );
				this.el.reviewFlags.textContent = '';
				resolve( decision );

			};

			const onAbort = () => finish( 'abort' );
			if ( signal ) {

				if ( signal.aborted ) return finish( 'abort' );
				signal.addEventListener( 'abort', onAbort, { once: true } );

			}

			this._reviewResolve = finish;
			this.el.reviewImage.src = dataUrl;
			const flags = ( quality && quality.flags ) || [];
			this.el.reviewFlags.textContent = flags.length > 0 ? `Flagged: ${flags.map( ( flag ) => FLAG_TEXT[ flag ] || flag ).join( ', ' )}` : 'No quality flags';
			this.el.reviewFlags.dataset.flags = flags.join( ' ' );
			this.el.review.hidden = false;
			this.el.accept.focus();

		} );

	}

	_answerReview( decision ) {

		if ( this._reviewResolve ) this._reviewResolve( decision );

	}

	// -----------------------------------------------------------------------------------------
	// Tab visibility and unload

	_watchVisibility() {

		const update = () => {

			this.el.hiddenWarning.hidden = ! document.hidden;
			if ( document.hidden && this.run && this.run.state === RunState.RUNNING ) {

				this.log( 'warning', 'The tab was hidden: rendering is throttled until it is visible again' );

			}

		};

		document.addEventListener( 'visibilitychange', update );
		update();

	}

	/** Give back claimed assets when the page goes away mid-run (best effort). */
	_releaseOnUnload() {

		if ( ! this.run || ! this.run.isActive() ) return;
		const token = this.tokens.peek();
		if ( ! token ) return;
		const base = this.config.apiBase.replace( /\/+$/, '' );
		fetch( `${base}/admin/thumbnail-jobs/release`, {
			method: 'POST',
			keepalive: true,
			credentials: 'same-origin',
			headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
			body: JSON.stringify( { runner_id: this.run.runnerId } ),
		} ).catch( () => undefined );

	}

}

/**
 * Start the page if its root element is present.
 *
 * @param {Document} [doc]
 * @return {Promise<GeneratorPage|null>}
 */
async function mount( doc = document ) {

	const root = doc.getElementById( 'batch-thumbs' );
	if ( ! root ) return null;
	const page = new GeneratorPage( root, readPageConfig( doc ) );
	await page.init();
	return page;

}

mount();

export { GeneratorPage };
