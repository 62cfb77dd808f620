/**
 * One asset, start to finish: load → frame → wait until ready → render → capture → (review) →
 * upload, or report the failure to the server. Shared by the admin page and the headless run.
 *
 * Each asset gets a fresh scene that is disposed afterwards, whatever happens. Nothing is
 * captured unless this asset's model loaded and framed: a failed load can never produce a
 * picture of the previous model.
 */
import { ApiError, dataUrlOf } from './api-client.js';
import { readPageConfig, renderSettings } from './config.js';
import { AbortError, Reason, ThumbnailError, toThumbnailError } from './errors.js';
import { loadAsset } from './loaders/registry.js';
import {
	createScene,
	disposeScene,
	nextFrames,
	parseBackground,
	waitForModel,
	waitUntilReady,
} from './renderer.js';
import { VIEW_ANGLES, computeFraming, createCamera, presentationFraming } from './framing.js';
import { applyColorSpace, orientModel, orientedPoints, roundedQuaternion, turnModel, turnedRotation } from './presentation.js';
import { renderAndCapture } from './capture.js';
import { createDeadline, reasonOf, throwIfAborted } from './signals.js';
import { disposeObject } from './dispose.js';
import { captureTurntable, uploadTurntable } from './turntable.js';
import { textureCap } from './texture-cap.js';

/**
 * @typedef {Object} AssetResult
 * @property {string} assetId
 * @property {'done'|'failed'|'skipped'} status
 * @property {string} [reason] - Failure reason code.
 * @property {string} [detail] - Readable explanation.
 * @property {number} ms - Wall time for the asset.
 * @property {string} [thumbnailUrl]
 * @property {string} [formatType]
 * @property {Object<string, number>} timings - Per stage, in ms: `load` (fetch + parse), `frame`,
 *   `render` (all of the first take: the steps below and the loader's own wait), within it
 *   `decode`, `cap` (texture downscale), `textures` (upload), `compile`, `frames`, `draw`,
 *   `encode` (the frame copied for its JPEG), `sample` (blank check); `quality`, `review`,
 *   `render1`… (later takes), `upload` (within it `jpeg`: the wait for the JPEG encode, which
 *   runs while the next asset renders).
 * @property {number} [texturesCapped] - Images downscaled to the texture cap (texture-cap.js).
 * @property {boolean} [fatal] - The run cannot continue (authentication lost).
 * @property {number} [attempts] - Failure count recorded by the server.
 * @property {string} [reportError] - Why the failure could not be recorded.
 * @property {boolean} [retryable] - A server or network failure, not recorded against the asset.
 * @property {string} [dataUrl] - The capture, when `options.returnImage` is set.
 * @property {import('./capture.js').QualityRecord} [quality] - The capture's quality record.
 * @property {{x: number, y: number, z: number, w: number}} [savedRotation] - The orientingRotation
 *   saved after turns in review.
 * @property {{url: string, width: number, height: number, bytes: number, frames: number, frameMs: number}} [turntable]
 *   The stored turntable preview (`options.turntable` frames, turntable.js).
 * @property {string} [turntableError] - Why no turntable was stored; the still was.
 */

/**
 * Settings for one asset: the run's options with the asset's presentation params applied.
 *
 * @param {Object} asset
 * @param {Object} options
 * @return {{width: number, height: number, quality: number, background: string, timeoutMs: number, runnerId: string, textureCap: number}}
 */
function resolveSettings( asset, options ) {

	const params = ( asset && asset.presentation_params ) || {};
	const base = renderSettings( { ...options, background: parseBackground( params.backgroundColor ) || options.background } );
	const cap = 'textureCap' in options ? options.textureCap : readPageConfig().textureCap;
	return {
		...base,
		runnerId: String( options.runnerId || 'browser' ),
		textureCap: textureCap( cap, base.width || options.width, base.height || options.height ),
	};

}

/**
 * Process one asset.
 *
 * @param {Object} params
 * @param {Object} params.asset - Asset from the claim endpoint (id is a string).
 * @param {import('./renderer.js').RenderContext} params.renderer - The shared renderer.
 * @param {import('./api-client.js').ApiClient} [params.api] - Needed to upload / report.
 * @param {Object} [params.options] - width, height, quality, background, timeoutMs, runnerId;
 *   `upload` (default true), `report` (default true), `returnImage`, `angleIndex`,
 *   `reviewFlaggedOnly` (review only captures whose quality record has flags).
 * @param {AbortSignal} [params.signal] - Abort to skip or stop (result status "skipped").
 * @param {function(Object): Promise<'accept'|'retake'|'turn'|'reject'>} [params.review] - Optional
 *   hook shown each capture (with its quality record) before upload; the batch waits for its
 *   answer. "turn" tips the model by 90° and shows it again; on Accept the turned orientation is
 *   saved as the asset's orientingRotation.
 * @param {function(string, Object): void} [params.onStage] - Progress callback (stage name, info).
 * @return {Promise<AssetResult>}
 */
async function processAsset( { asset, renderer: context, api, options = {}, signal, review, onStage } ) {

	const started = performance.now();
	const assetId = String( asset.id );
	const settings = resolveSettings( asset, options );
	const upload = options.upload !== false;
	const report = options.report !== false;
	const timings = {};
	const result = { assetId, status: 'failed', ms: 0, timings };
	let stageStart = started;
	const stage = ( name, info = {} ) => {

		const now = performance.now();
		stageStart = now;
		if ( onStage ) onStage( name, { assetId, ...info } );

	};

	const mark = ( name ) => {

		timings[ name ] = Math.round( performance.now() - stageStart );

	};

	let model = null;
	let root = null;
	let scene = null;
	const deadline = createDeadline( signal, settings.timeoutMs );

	try {

		throwIfAborted( deadline.signal );
		if ( context.width !== settings.width || context.height !== settings.height ) context.setSize( settings.width, settings.height );
		clearCanvas( context, settings.background );

		const loaded = await loadAsset( asset, { signal: deadline.signal, timeoutMs: Infinity, onFormat: ( candidate ) => {

			result.formatType = candidate.format_type;
			stage( 'load', { format: candidate } );

		} } );
		const format = loaded.format;
		model = loaded.object;
		const notes = ( model.userData.thumbnail && model.userData.thumbnail.notes ) || {};
		mark( 'load' );

		stage( 'frame' );
		const params = asset.presentation_params || {};
		if ( notes.brushes && ! parseBackground( params.backgroundColor ) ) {

			// A brush sketch is painted in a dark room: light and additive strokes vanish on a
			// light background. The gallery's own background still wins.
			settings.background = parseBackground( ( readPageConfig().defaults || {} ).sketchBackground ) || settings.background;

		}

		const colorSpace = applyColorSpace( model, params );
		root = orientModel( model, asset, format.format_type );
		let points = orientedPoints( root, model ); // The loader's bounds (splats) or the geometry.
		scene = createScene( root, { background: settings.background, environment: context.environment } );
		const aspect = settings.width / settings.height;
		let angleIndex = Number( options.angleIndex ) || 0;
		let usePresentation = true;
		mark( 'frame' );

		let capture = null;
		let framing = null;
		let reviewing = false;
		for ( let take = 0; ; take ++ ) {

			framing = ( usePresentation && presentationFraming( params.camera, points ) )
				|| computeFraming( points, { aspect, angle: VIEW_ANGLES[ angleIndex % VIEW_ANGLES.length ] } );
			const camera = createCamera( framing, aspect );

			stage( 'render', { take } );
			if ( take === 0 ) {

				const { capped, ...ready } = await waitUntilReady( context, scene, camera, deadline.signal, { textureCap: settings.textureCap } );
				Object.assign( timings, ready );
				result.texturesCapped = capped;

			} else await nextFrames( 2, signal );
			await waitForModel( context, model, scene, camera, take === 0 ? deadline.signal : signal );
			capture = renderAndCapture( context, scene, camera, { quality: settings.quality, background: settings.background } );
			if ( take === 0 ) Object.assign( timings, capture.times );
			mark( take === 0 ? 'render' : `render${take}` );
			timings.quality = Math.round( ( timings.quality || 0 ) + capture.qualityMs * 1000 ) / 1000;
			if ( take === 0 ) deadline.dispose(); // The time budget covers loading and rendering, not the admin.

			// Once a capture is shown, the admin decides until Accept or Reject.
			reviewing = reviewing || Boolean( review && ( ! options.reviewFlaggedOnly || capture.quality.flags.length > 0 ) );
			if ( ! reviewing ) break;
			stage( 'review', { take } );
			const decision = await review( { asset, format, dataUrl: await dataUrlOf( await capture.image ), quality: capture.quality, framing, take, signal } );
			throwIfAborted( signal );
			mark( 'review' );
			if ( decision === 'accept' ) break;
			if ( decision === 'reject' ) throw new ThumbnailError( Reason.REJECTED, 'Rejected in review' );
			if ( decision === 'turn' ) {

				turnModel( root );
				points = orientedPoints( root, model );

			} else if ( framing.source !== 'presentation' ) {

				angleIndex += 1; // Retake: the next automatic angle (the first one if the asset's own camera was used).

			}

			usePresentation = false;

		}

		result.width = capture.width;
		result.height = capture.height;
		result.coverage = Math.round( capture.stats.coverage * 1000 ) / 1000;
		result.quality = capture.quality;
		if ( options.returnImage ) result.dataUrl = await dataUrlOf( await capture.image );
		const turned = turnedRotation( root );
		const orientation = root.userData.orientation;
		let turntable = null; // Opt-in (turntable.js): the orbit is rendered while the scene exists.
		if ( settings.turntable > 0 ) {

			stage( 'turntable' );
			turntable = await captureTurntable( context, { scene, model, points, framing, signal, settings: { ...readPageConfig().turntable, quality: settings.quality, timeoutMs: settings.timeoutMs, frames: settings.turntable } } );
			timings.turntable = turntable.ms;

		}

		// The picture is taken; free the model before the upload round trip.
		disposeScene( scene, context );
		scene = null;
		model = null;
		root = null;

		if ( upload && turned ) {

			stage( 'orientation' );
			await saveOrientation( api, assetId, turned, signal );
			result.savedRotation = turned;

		}

		if ( upload ) {

			stage( 'upload' );
			const encoding = performance.now();
			const image = await capture.image; // A JPEG that did not come out is the render's failure.
			timings.jpeg = Math.round( performance.now() - encoding );
			const stored = await uploadCapture( api, assetId, image, {
				signal,
				runnerId: settings.runnerId,
				renderer: context.rendererString,
				renderSettings: {
					width: capture.width,
					height: capture.height,
					jpeg_quality: settings.quality,
					background: settings.background,
					format_type: format.format_type,
					camera: { position: framing.position, target: framing.target, fov: framing.fov, source: framing.source },
					coverage: result.coverage,
					quality: capture.quality,
					color_space: colorSpace,
					...( orientation.upAxis ? { up_axis: orientation.upAxis } : {} ),
					...( turned || orientation.fromGallery ? { orienting_rotation: roundedQuaternion( orientation.rotation ) } : {} ),
					...notes,
				},
			} );
			result.thumbnailUrl = stored.thumbnail_url || '';
			result.previewUrl = stored.preview_image_url || '';
			result.bytes = stored.bytes;
			mark( 'upload' );
			if ( turntable ) {

				const { ms, ...answer } = await uploadTurntable( api, assetId, stored.version_id, turntable, { runnerId: settings.runnerId, signal } );
				Object.assign( result, answer );
				timings.turntableUpload = ms;

			}

		}

		result.status = 'done';

	} catch ( caught ) {

		const error = toThumbnailError( caught );
		result.reason = error.reason;
		result.detail = error.message;
		if ( caught instanceof ApiError && ( caught.status === 401 || caught.status === 403 ) ) {

			result.fatal = true;
			result.httpStatus = caught.status;
			result.status = 'failed';

		} else if ( error instanceof AbortError || error.reason === Reason.ABORTED || error.reason === Reason.LEASE_LOST ) {

			result.status = 'skipped';

		} else if ( error.reason === Reason.UPLOAD_ERROR ) {

			// The server or network failed (5xx after retries), not the asset: no failure is
			// recorded against it, and its lease is released for a later try.
			result.status = 'failed';
			result.retryable = true;

		} else {

			result.status = 'failed';
			if ( report && api ) await reportFailure( api, assetId, error, settings.runnerId, result );

		}

	} finally {

		deadline.dispose();
		if ( scene ) disposeScene( scene, context );
		else if ( root ) disposeObject( root );
		else if ( model ) disposeObject( model );
		result.ms = Math.round( performance.now() - started );

	}

	return result;

}

/**
 * Upload with the client's retries; map refusals to typed errors.
 *
 * @param {import('./api-client.js').ApiClient} api
 * @param {string} assetId
 * @param {Blob} image - The capture's JPEG.
 * @param {{signal?: AbortSignal, runnerId: string, renderer: string, renderSettings: Object}} params
 * @return {Promise<Object>}
 */
async function uploadCapture( api, assetId, image, { signal, runnerId, renderer, renderSettings } ) {

	try {

		return await api.uploadThumbnail( assetId, { image, runnerId, renderer, renderSettings }, signal );

	} catch ( error ) {

		if ( signal && signal.aborted ) throw reasonOf( signal );
		if ( ! ( error instanceof ApiError ) ) throw error;
		if ( error.status === 401 || error.status === 403 ) throw error;
		if ( error.status === 409 ) throw new ThumbnailError( Reason.LEASE_LOST, `Not uploaded: ${error.message}`, { cause: error } );
		const reason = error.status >= 400 && error.status < 500 && error.status !== 429 ? Reason.UPLOAD_REJECTED : Reason.UPLOAD_ERROR;
		const status = error.status ? `HTTP ${error.status}: ` : '';
		throw new ThumbnailError( reason, `Upload failed: ${status}${error.message}`, { cause: error } );

	}

}

/**
 * Save the orientation the admin turned the model to; a refusal fails the asset before upload
 * (the thumbnail would disagree with the viewer).
 */
async function saveOrientation( api, assetId, rotation, signal ) {

	try {

		await api.saveOrientation( assetId, rotation );

	} catch ( error ) {

		if ( signal && signal.aborted ) throw reasonOf( signal );
		if ( error instanceof ApiError && ( error.status === 401 || error.status === 403 ) ) throw error;
		const status = error.status ? `HTTP ${error.status}: ` : '';
		throw new ThumbnailError( Reason.UPLOAD_REJECTED, `Orientation not saved: ${status}${error.message}`, { cause: error } );

	}

}

/**
 * Record the failure server-side; a failure to record is noted on the result, not thrown.
 */
async function reportFailure( api, assetId, error, runnerId, result ) {

	try {

		const answer = await api.reportFailure( assetId, { reason: error.reason, detail: error.message, runnerId } );
		if ( answer && answer.attempts !== undefined ) result.attempts = answer.attempts;

	} catch ( reportError ) {

		result.reportError = reportError.message;
		if ( reportError instanceof ApiError && ( reportError.status === 401 || reportError.status === 403 ) ) {

			result.fatal = true;
			result.httpStatus = reportError.status;

		}

	}

}

/**
 * Show the background only, so the live preview never keeps the previous model on screen.
 */
function clearCanvas( context, background ) {

	context.renderer.setClearColor( background, 1 );
	context.renderer.clear();

}

export { processAsset, resolveSettings };
