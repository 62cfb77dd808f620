/**
 * The run state machine behind the admin page, without any DOM.
 *
 *   idle ──start──▶ running ──pause──▶ paused ──resume──▶ running
 *                     │  ▲                │
 *                     │  └── next asset   └──stop──▶ stopped
 *                     ├──stop──▶ stopping ──▶ stopped
 *                     └── nothing left ──▶ finished      (an auth error ends in "error")
 *
 * The run claims assets in batches, processes them one at a time through the shared pipeline
 * and claims again until the server has none left. It keeps no lease bookkeeping: the server
 * owns the run policy (admin_tools/runs.py). A claim names this run, so the server never hands
 * it an asset twice and keeps its queued leases alive while it works; an asset this run could
 * not settle (skipped, failure not recorded) is released at once; stopping, finishing or
 * leaving the page releases every lease of this runner in one call. Skip aborts only the
 * asset in flight (its own AbortController), so it can never skip the next one. Events are
 * dispatched as CustomEvents; their `detail` is plain data.
 */
import { ApiError } from './api-client.js';
import { AbortError } from './errors.js';
import { processAsset } from './pipeline.js';

/** Run states. */
const RunState = Object.freeze( {
	IDLE: 'idle',
	RUNNING: 'running',
	PAUSED: 'paused',
	STOPPING: 'stopping',
	STOPPED: 'stopped',
	FINISHED: 'finished',
	ERROR: 'error',
} );

// Until the server names its interval (THUMBNAIL_HEARTBEAT_SECONDS).
const HEARTBEAT_MS = 15000;
const SKIP_MESSAGE = 'Skipped by the admin';
const STOP_MESSAGE = 'Stopped by the admin';

/**
 * One batch run.
 *
 * Events: `state` {state, previous}, `log` {level, message}, `claim` {count, remaining},
 * `asset-start` {asset, index}, `stage` {asset, stage}, `asset-done` {asset, result},
 * `stats` {…stats}, `review` is not an event: pass a `review` hook instead.
 */
class BatchRun extends EventTarget {

	/**
	 * @param {Object} params
	 * @param {import('./api-client.js').ApiClient} params.api
	 * @param {import('./renderer.js').RenderContext} params.renderer
	 * @param {string} params.runnerId - This page's runner id (leases and versions name it).
	 * @param {string} [params.runId] - This run's id; a fresh one by default.
	 * @param {function(): Object} params.getSettings - Current settings: batchSize,
	 *   viewerCompatibleOnly, includeFailed, width, height, quality, background, timeoutMs,
	 *   reviewMode (already clamped, see config.js). Read before each claim and each asset, so changes apply to the next one.
	 * @param {{id: string, count: number, force: boolean}|null} [params.selection] - Saved
	 *   admin selection to process instead of "everything missing a thumbnail".
	 * @param {string[]|null} [params.assetIds] - Restrict to these ids (Retry failed).
	 * @param {function(Object): Promise<string>} [params.review] - Review hook for review mode.
	 * @param {typeof processAsset} [params.process] - The per-asset pipeline (tests pass a fake).
	 */
	constructor( { api, renderer, runnerId, runId = null, getSettings, selection = null, assetIds = null, review = null, process = processAsset } ) {

		super();
		this.api = api;
		this.renderer = renderer;
		this.runnerId = runnerId;
		this.runId = runId || `${runnerId}.${Date.now().toString( 36 )}${Math.random().toString( 36 ).slice( 2, 8 )}`;
		this.getSettings = getSettings;
		this.selection = selection;
		this.assetIds = assetIds ? assetIds.map( String ) : null;
		this.review = review;
		this.process = process;

		this.state = RunState.IDLE;
		this.queue = [];
		this.current = null;
		this.failures = new Map();
		this.exhausted = false;
		this.serverRemaining = null;
		this.stats = {
			completed: 0,
			failed: 0,
			skipped: 0,
			processed: 0,
			total: selection ? selection.count : ( assetIds ? assetIds.length : null ),
			startedAt: null,
			activeMs: 0,
			lastMs: 0,
		};
		this._lastBeat = 0;
		this._beatMs = HEARTBEAT_MS;
		this._resumeWaiters = [];
		this._activeSince = null;
		this._stopRequested = false;
		this._done = null;

	}

	// -----------------------------------------------------------------------------------------
	// Controls

	/**
	 * Start processing; resolves when the run has finished, stopped or failed.
	 *
	 * @return {Promise<void>}
	 */
	start() {

		if ( this._done ) return this._done;
		this.stats.startedAt = Date.now();
		this._activeSince = performance.now();
		this._setState( RunState.RUNNING );
		this._done = this._loop();
		return this._done;

	}

	/** Hold before the next asset (the one in flight finishes first). */
	pause() {

		if ( this.state !== RunState.RUNNING ) return;
		this._accumulateActive();
		this._setState( RunState.PAUSED );
		this.log( 'info', this.current ? 'Pausing after the current asset' : 'Paused' );

	}

	/** Continue after a pause. */
	resume() {

		if ( this.state !== RunState.PAUSED ) return;
		this._activeSince = performance.now();
		this._setState( RunState.RUNNING );
		this.log( 'info', 'Resumed' );
		this._wakeUp();

	}

	/**
	 * Abort the asset in flight and count it as skipped. Does nothing unless `assetId` (when
	 * given) is the asset in flight, so a late click can never skip the next asset.
	 *
	 * @param {string} [assetId]
	 * @return {boolean} Whether an asset was aborted.
	 */
	skip( assetId ) {

		const current = this.current;
		if ( ! current || current.controller.signal.aborted ) return false;
		if ( assetId !== undefined && assetId !== null && String( assetId ) !== current.asset.id ) return false;
		current.controller.abort( new AbortError( SKIP_MESSAGE ) );
		return true;

	}

	/**
	 * Stop: abort the asset in flight, give back every claimed asset not processed.
	 *
	 * @return {Promise<void>} Resolves when the run has wound down.
	 */
	stop() {

		if ( ! this._done ) {

			this._setState( RunState.STOPPED );
			return Promise.resolve();

		}

		if ( this._isOver() ) return this._done;
		this._stopRequested = true;
		if ( this.state === RunState.RUNNING ) this._accumulateActive();
		this._setState( RunState.STOPPING );
		if ( this.current ) this.current.controller.abort( new AbortError( STOP_MESSAGE ) );
		this._wakeUp();
		return this._done;

	}

	/**
	 * Whether the run may still hold leases (it has started and is not over yet).
	 *
	 * @return {boolean}
	 */
	isActive() {

		return this._done !== null && ! this._isOver();

	}

	/**
	 * Derived numbers for display: rate, success rate, ETA.
	 *
	 * @return {Object}
	 */
	snapshot() {

		const s = this.stats;
		const activeMs = s.activeMs + ( this.state === RunState.RUNNING && this._activeSince !== null ? performance.now() - this._activeSince : 0 );
		const decided = s.completed + s.failed;
		const pending = this.queue.length + ( this.current ? 1 : 0 );
		const total = this.serverRemaining === null && s.total === null ? null : Math.max( s.total || 0, s.processed + pending + ( this.serverRemaining || 0 ) );
		const remaining = total === null ? null : Math.max( 0, total - s.processed );
		const perAssetMs = s.processed > 0 ? activeMs / s.processed : null;
		return {
			state: this.state,
			completed: s.completed,
			failed: s.failed,
			skipped: s.skipped,
			processed: s.processed,
			total,
			remaining,
			successRate: decided > 0 ? s.completed / decided : null,
			perMinute: activeMs > 1000 && s.processed > 0 ? s.processed / ( activeMs / 60000 ) : null,
			etaMs: perAssetMs !== null && remaining !== null ? remaining * perAssetMs : null,
			lastMs: s.lastMs,
			current: this.current ? this.current.asset : null,
		};

	}

	/**
	 * Emit a log line.
	 *
	 * @param {'info'|'success'|'warning'|'error'} level
	 * @param {string} message
	 */
	log( level, message ) {

		this._emit( 'log', { level, message, time: new Date() } );

	}

	// -----------------------------------------------------------------------------------------
	// Loop

	async _loop() {

		try {

			while ( ! this._stopRequested ) {

				await this._waitWhilePaused();
				if ( this._stopRequested ) break;

				if ( this.queue.length === 0 ) {

					if ( this.exhausted ) break;
					await this._heartbeat();
					const claimed = await this._claim();
					if ( ! claimed ) break;
					continue;

				}

				await this._process( this.queue.shift() );
				await this._heartbeat();

			}

			if ( this._stopRequested ) {

				await this._releaseAll();
				this._setState( RunState.STOPPED );
				this.log( 'warning', 'Stopped' );

			} else {

				await this._releaseAll();
				this._accumulateActive();
				this._setState( RunState.FINISHED );
				const s = this.stats;
				this.log( 'success', `Finished: ${s.completed} done, ${s.failed} failed, ${s.skipped} skipped` );

			}

		} catch ( error ) {

			this._accumulateActive();
			await this._releaseAll().catch( () => undefined );
			this._setState( RunState.ERROR );
			this.log( 'error', error.message );
			this._emit( 'fatal', { message: error.message, status: error.status || 0 } );

		} finally {

			await this._heartbeat( { stopping: true } );
			this._emitStats();

		}

	}

	/**
	 * One heartbeat to the fleet, at most every interval the server names (a failed beat is
	 * only logged: the next one is the retry). An API without heartbeats (a test double) is
	 * left alone.
	 */
	async _heartbeat( { stopping = false } = {} ) {

		if ( typeof this.api.heartbeat !== 'function' ) return;
		if ( ! stopping && Date.now() - this._lastBeat < this._beatMs ) return;
		this._lastBeat = Date.now();
		const snap = this.snapshot();
		try {

			const answer = await this.api.heartbeat( {
				runnerId: this.runnerId,
				renderer: ( this.renderer && this.renderer.rendererString ) || '',
				done: snap.completed,
				failed: snap.failed,
				ratePerMinute: snap.perMinute || 0,
				stopping,
			} );
			if ( answer && answer.interval_seconds > 0 ) this._beatMs = answer.interval_seconds * 1000;

		} catch ( error ) {

			this.log( 'warning', `Heartbeat failed: ${error.message}` );

		}

	}

	async _claim() {

		const settings = this.getSettings();
		let answer;
		try {

			answer = await this.api.claim( {
				runnerId: this.runnerId,
				runId: this.runId,
				count: settings.batchSize,
				filters: {
					viewer_compatible_only: Boolean( settings.viewerCompatibleOnly ),
					include_failed: Boolean( settings.includeFailed ) || Boolean( this.assetIds ),
					force: this.selection ? Boolean( this.selection.force ) : false,
					selection: this.selection ? this.selection.id : null,
					asset_ids: this.assetIds,
				},
			} );

		} catch ( error ) {

			if ( error instanceof ApiError ) throw error;
			throw new Error( `Could not claim assets: ${error.message}` );

		}

		const assets = ( ( answer && answer.assets ) || [] ).map( ( asset ) => ( { ...asset, id: String( asset.id ) } ) );
		this.serverRemaining = Math.max( 0, Number( answer && answer.remaining ) || 0 );
		this.queue.push( ...assets );
		this._emit( 'claim', { count: assets.length, remaining: this.serverRemaining } );
		this._emitStats();
		if ( assets.length === 0 ) {

			this.exhausted = true;
			return false;

		}

		this.log( 'info', `Claimed ${assets.length} asset${assets.length === 1 ? '' : 's'} (${this.serverRemaining} more waiting)` );
		return true;

	}

	async _process( asset ) {

		const settings = this.getSettings();
		const controller = new AbortController();
		this.current = { asset, controller, startedAt: performance.now() };
		this._emit( 'asset-start', { asset } );
		this._emitStats();

		const result = await this.process( {
			asset,
			renderer: this.renderer,
			api: this.api,
			signal: controller.signal,
			review: settings.reviewMode && this.review ? this.review : null,
			options: {
				width: settings.width,
				height: settings.height,
				quality: settings.quality,
				background: settings.background,
				timeoutMs: settings.timeoutMs,
				turntable: settings.turntable,
				runnerId: this.runnerId,
				reviewFlaggedOnly: Boolean( settings.reviewFlaggedOnly ),
			},
			onStage: ( stage, info ) => this._emit( 'stage', { asset, stage, format: info.format || null } ),
		} );

		this.current = null;
		if ( result.status === 'skipped' && this._stopRequested ) {

			// Not processed: released with the rest of the run's leases.
			this._emit( 'asset-done', { asset, result: { ...result, status: 'stopped' } } );
			return;

		}

		const s = this.stats;
		s.processed += 1;
		s.lastMs = result.ms;
		if ( result.status === 'done' ) {

			s.completed += 1;
			this.failures.delete( asset.id );
			this.log( 'success', `${label( asset )}: thumbnail saved (${( result.ms / 1000 ).toFixed( 1 )} s)` );
			if ( result.turntableError ) this.log( 'warning', `${label( asset )}: ${result.turntableError}` );

		} else if ( result.status === 'skipped' ) {

			s.skipped += 1;
			this.log( 'warning', `${label( asset )}: skipped` );
			await this._release( asset );

		} else {

			s.failed += 1;
			this.failures.set( asset.id, { asset, reason: result.reason, detail: result.detail, attempts: result.attempts } );
			this.log( 'error', `${label( asset )}: ${result.reason} — ${result.detail}` );
			if ( result.reportError ) this.log( 'warning', `Could not record the failure of asset ${asset.id}: ${result.reportError}` );
			// Not recorded (server trouble, or the report failed): give the lease back now.
			if ( result.retryable || result.reportError ) await this._release( asset );

		}

		this._emit( 'asset-done', { asset, result } );
		this._emitStats();
		if ( result.fatal ) throw new ApiError( result.reportError || result.detail, { status: result.httpStatus || 401 } );

	}

	/** Give back the lease of one asset this run could not settle (it never comes back to it). */
	async _release( asset ) {

		try {

			await this.api.release( { runnerId: this.runnerId, assetIds: [ asset.id ] } );

		} catch ( error ) {

			this.log( 'warning', `Could not release asset ${asset.id} (its lease will expire): ${error.message}` );

		}

	}

	/** Give back every lease this runner still holds: one call, whatever is left in the queue. */
	async _releaseAll() {

		this.queue = [];
		try {

			const answer = await this.api.release( { runnerId: this.runnerId } );
			const released = Number( answer && answer.released ) || 0;
			if ( released > 0 ) this.log( 'info', `Released ${released} claimed asset(s)` );

		} catch ( error ) {

			this.log( 'warning', `Could not release claimed assets (their leases will expire): ${error.message}` );

		}

	}

	_waitWhilePaused() {

		if ( this.state !== RunState.PAUSED ) return Promise.resolve();
		return new Promise( ( resolve ) => this._resumeWaiters.push( resolve ) );

	}

	_wakeUp() {

		const waiters = this._resumeWaiters;
		this._resumeWaiters = [];
		for ( const resolve of waiters ) resolve();

	}

	_accumulateActive() {

		if ( this._activeSince !== null ) {

			this.stats.activeMs += performance.now() - this._activeSince;
			this._activeSince = null;

		}

	}

	_isOver() {

		return [ RunState.STOPPED, RunState.FINISHED, RunState.ERROR ].includes( this.state );

	}

	_setState( state ) {

		if ( state === this.state ) return;
		const previous = this.state;
		this.state = state;
		this._emit( 'state', { state, previous } );
		this._emitStats();

	}

	_emitStats() {

		this._emit( 'stats', this.snapshot() );

	}

	_emit( type, detail ) {

		this.dispatchEvent( new CustomEvent( type, { detail } ) );

	}

}

function label( asset ) {

	return `Asset ${asset.id}${asset.name ? ` “${asset.name}”` : ''}`;

}

export { BatchRun, RunState };
