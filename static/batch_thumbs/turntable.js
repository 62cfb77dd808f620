/**
 * Turntable previews (opt-in, issue 13): after the still, the same scene is rendered from N
 * cameras on an orbit around the up axis and the frames go to the server, which stores them as
 * one animated WebP next to the still (admin_tools/turntable.py).
 *
 * `turntablePoses` is pure maths like framing.js (runs in Node). The still never depends on
 * the turntable: a turntable that cannot be rendered or stored is reported on the result
 * (`turntableError`), and the asset is still done.
 */
import { createCamera } from './framing.js';
import { waitForModel } from './renderer.js';
import { createDeadline, throwIfAborted } from './signals.js';

/** Share of the half-frame kept empty on each side, as the still's framing. */
const MARGIN = 0.06;
/** Steepest orbit: a top-down still would make a turntable spin in place. */
const MAX_ELEVATION = 60;

/**
 * The frame count a run asked for, within the page's bounds: 0 (or anything not a positive
 * number) is off; other counts are clamped to `config.turntable.limits`.
 *
 * @param {unknown} value - The requested count; unset takes the page's default.
 * @param {Object} [config] - The page configuration (`turntable`: {frames, limits}).
 * @return {number}
 */
function turntableFrames( value, config = {} ) {

	const page = config.turntable || {};
	const requested = value === undefined || value === null || value === '' ? page.frames : value;
	const count = Math.round( Number( requested ) );
	if ( ! ( count > 0 ) ) return 0;
	const [ min, max ] = page.limits || [ 2, 72 ];
	return Math.min( max, Math.max( min, count ) );

}

/**
 * N camera framings on an orbit around the vertical (+Y) axis through the model's centre,
 * starting from the still's view direction and elevation, all at one distance: the closest at
 * which every point stays inside the frame from every one of the N directions, so the model
 * turns without zooming.
 *
 * @param {Float32Array|number[]} points - Packed x, y, z triples (world space, Y up).
 * @param {import('./framing.js').Framing} still - The still's framing (direction and fov).
 * @param {{frames: number, aspect: number, margin?: number}} options
 * @return {import('./framing.js').Framing[]}
 */
function turntablePoses( points, still, { frames, aspect, margin = MARGIN } ) {

	const count = Math.floor( points.length / 3 );
	if ( ! ( frames > 0 ) || count === 0 ) return [];
	const min = [ Infinity, Infinity, Infinity ], max = [ - Infinity, - Infinity, - Infinity ];
	for ( let i = 0; i < count; i ++ ) {

		for ( let k = 0; k < 3; k ++ ) {

			const v = points[ 3 * i + k ];
			if ( v < min[ k ] ) min[ k ] = v;
			if ( v > max[ k ] ) max[ k ] = v;

		}

	}

	const center = [ 0, 1, 2 ].map( ( k ) => ( min[ k ] + max[ k ] ) / 2 );
	const radius = Math.hypot( max[ 0 ] - min[ 0 ], max[ 1 ] - min[ 1 ], max[ 2 ] - min[ 2 ] ) / 2;
	const view = [ 0, 1, 2 ].map( ( k ) => still.position[ k ] - still.target[ k ] );
	const length = Math.hypot( view[ 0 ], view[ 1 ], view[ 2 ] ) || 1;
	const limit = MAX_ELEVATION * Math.PI / 180;
	const elevation = Math.max( - limit, Math.min( limit, Math.asin( view[ 1 ] / length ) ) );
	const azimuth = Math.atan2( view[ 0 ], view[ 2 ] );
	const fill = 1 - 2 * margin;
	const tanV = Math.tan( still.fov * Math.PI / 360 ) * fill;
	const tanH = tanV * aspect;

	// Camera axes per pose; the camera at distance D sees a point (x, y, z) (z towards the
	// camera) at x / (D - z): inside the frame when D >= |x| / tanH + z, and the same for y.
	const axes = [];
	let distance = 0;
	for ( let f = 0; f < frames; f ++ ) {

		const az = azimuth + 2 * Math.PI * f / frames;
		const back = [ Math.sin( az ) * Math.cos( elevation ), Math.sin( elevation ), Math.cos( az ) * Math.cos( elevation ) ];
		const right = [ Math.cos( az ), 0, - Math.sin( az ) ]; // (0, 1, 0) × back, normalised
		const up = [ back[ 1 ] * right[ 2 ] - back[ 2 ] * right[ 1 ], back[ 2 ] * right[ 0 ] - back[ 0 ] * right[ 2 ], back[ 0 ] * right[ 1 ] - back[ 1 ] * right[ 0 ] ];
		let zMin = Infinity, zMax = - Infinity;
		for ( let i = 0; i < count; i ++ ) {

			const px = points[ 3 * i ] - center[ 0 ], py = points[ 3 * i + 1 ] - center[ 1 ], pz = points[ 3 * i + 2 ] - center[ 2 ];
			const x = px * right[ 0 ] + pz * right[ 2 ];
			const y = px * up[ 0 ] + py * up[ 1 ] + pz * up[ 2 ];
			const z = px * back[ 0 ] + py * back[ 1 ] + pz * back[ 2 ];
			distance = Math.max( distance, Math.abs( x ) / tanH + z, Math.abs( y ) / tanV + z );
			if ( z < zMin ) zMin = z;
			if ( z > zMax ) zMax = z;

		}

		axes.push( { back, up, zMin, zMax } );

	}

	distance = Math.max( distance, ...axes.map( ( a ) => a.zMax + radius * 0.02 ) );
	return axes.map( ( { back, up, zMin, zMax } ) => {

		const farthest = distance - zMin;
		return {
			position: [ 0, 1, 2 ].map( ( k ) => center[ k ] + back[ k ] * distance ),
			target: center.slice(),
			up,
			fov: still.fov,
			near: Math.max( ( distance - zMax ) * 0.5, farthest * 1e-4 ),
			far: farthest * 1.5 + radius * 0.1,
			source: 'turntable',
		};

	} );

}

/**
 * Render the orbit with the still's scene at the page's turntable size and read each frame
 * back as JPEG, within `settings.timeoutMs` (the still's budget again). The renderer gets its
 * size back afterwards. Aborting throws; any other failure, the timeout included, is returned
 * as `{error}` (the still goes on).
 *
 * @param {import('./renderer.js').RenderContext} context
 * @param {Object} params
 * @param {import('three').Scene} params.scene
 * @param {import('three').Object3D} params.model - For its loader's `ready` hook (splats sort per view).
 * @param {Float32Array} params.points
 * @param {import('./framing.js').Framing} params.framing - The still's.
 * @param {{frames: number, width: number, height: number, quality: number, timeoutMs?: number}} params.settings
 * @param {AbortSignal} [params.signal]
 * @return {Promise<{frames?: string[], width: number, height: number, ms: number, error?: string}>}
 */
async function captureTurntable( context, { scene, model, points, framing, settings, signal } ) {

	const started = performance.now();
	const { width, height } = settings;
	const previous = [ context.width, context.height ];
	const deadline = createDeadline( signal, settings.timeoutMs );
	let outcome;
	try {

		context.setSize( width, height );
		const frames = [];
		for ( const pose of turntablePoses( points, framing, { frames: settings.frames, aspect: width / height } ) ) {

			throwIfAborted( deadline.signal );
			const camera = createCamera( pose, width / height );
			await waitForModel( context, model, scene, camera, deadline.signal );
			if ( context.isContextLost() ) throw new Error( 'The WebGL context was lost' );
			context.renderer.render( scene, camera );
			frames.push( context.canvas.toDataURL( 'image/jpeg', settings.quality ) );

		}

		outcome = { frames };

	} catch ( error ) {

		if ( signal && signal.aborted ) throw error;
		outcome = { error: `Turntable not rendered: ${error.message}` };

	} finally {

		deadline.dispose();
		context.setSize( previous[ 0 ], previous[ 1 ] );

	}

	return { ...outcome, width, height, ms: Math.round( performance.now() - started ) };

}

/**
 * Send the frames for the version the still's upload answered with. Never throws: the still is
 * stored whatever happens here.
 *
 * @param {import('./api-client.js').ApiClient} api
 * @param {string} assetId
 * @param {string} versionId
 * @param {{frames?: string[], error?: string}} capture
 * @param {{runnerId: string, signal?: AbortSignal}} options
 * @return {Promise<{turntable?: Object, turntableError?: string, ms: number}>}
 */
async function uploadTurntable( api, assetId, versionId, capture, { runnerId, signal } ) {

	const started = performance.now();
	const ms = () => Math.round( performance.now() - started );
	if ( capture.error ) return { turntableError: capture.error, ms: 0 };
	try {

		const stored = await api.request( 'POST', `/admin/assets/${encodeURIComponent( assetId )}/turntable`, {
			signal,
			body: { version_id: String( versionId ), runner_id: runnerId, turntable_frames: capture.frames },
		} );
		const { url, width, height, bytes, frames, frame_ms: frameMs } = stored;
		return { turntable: { url, width, height, bytes, frames, frameMs }, ms: ms() };

	} catch ( error ) {

		const status = error.status ? `HTTP ${error.status}: ` : '';
		return { turntableError: `Turntable not stored: ${status}${error.message}`, ms: ms() };

	}

}

export { captureTurntable, turntableFrames, turntablePoses, uploadTurntable };
