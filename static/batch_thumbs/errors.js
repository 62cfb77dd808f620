/**
 * Typed errors for the thumbnail pipeline.
 *
 * Every error carries a short machine-readable `reason` (sent to the server as the failure
 * reason, at most 64 characters) and a human-readable `message` (sent as the failure detail and
 * shown to the admin). Nothing in the pipeline throws bare strings.
 */
import reasonList from './failure-reasons.json' with { type: 'json' };

/**
 * Reason codes the pipeline can report: the keys of failure-reasons.json, the one list the API
 * also validates against (admin_tools/reasons.py), as `Reason.LOAD_ERROR === 'load_error'`.
 */
const Reason = Object.freeze( Object.fromEntries( Object.keys( reasonList ).map( ( code ) => [ code.toUpperCase(), code ] ) ) );

/** Base class: an expected failure of one asset, with a reason code. */
class ThumbnailError extends Error {

	/**
	 * @param {string} reason - One of {@link Reason}.
	 * @param {string} message - Readable explanation for the admin.
	 * @param {{cause?: unknown}} [options]
	 */
	constructor( reason, message, options = {} ) {

		super( message, options );
		this.name = 'ThumbnailError';
		this.reason = reason;

	}

}

/** The asset's format cannot be drawn (glTF 1.0, TILT, BLOCKS, …). */
class UnsupportedFormatError extends ThumbnailError {

	/** @param {string} formatType */
	constructor( formatType ) {

		super( Reason.UNSUPPORTED_FORMAT, `Unsupported format: ${formatType || 'unknown'}` );
		this.name = 'UnsupportedFormatError';
		this.formatType = formatType;

	}

}

/** A download or parse failed. `reason` tells which. */
class LoadError extends ThumbnailError {

	/**
	 * @param {string} message
	 * @param {{reason?: string, cause?: unknown}} [options]
	 */
	constructor( message, { reason = Reason.LOAD_ERROR, cause } = {} ) {

		super( reason, message, { cause } );
		this.name = 'LoadError';

	}

}

/** The asset took longer than its time budget; its requests were aborted. */
class TimeoutError extends ThumbnailError {

	/** @param {number} ms */
	constructor( ms ) {

		super( Reason.TIMEOUT, `Timed out after ${Math.round( ms / 1000 )} s` );
		this.name = 'TimeoutError';
		this.ms = ms;

	}

}

/** The work was cancelled (Skip, Stop). Not a failure of the asset. */
class AbortError extends ThumbnailError {

	/** @param {string} [message] */
	constructor( message = 'Aborted' ) {

		super( Reason.ABORTED, message );
		this.name = 'AbortError';

	}

}

/** There is nothing to draw: no meshes, or a zero-size bounding box. */
class EmptySceneError extends ThumbnailError {

	/** @param {string} [message] */
	constructor( message = 'Nothing to draw: the model has no visible geometry' ) {

		super( Reason.EMPTY_SCENE, message );
		this.name = 'EmptySceneError';

	}

}

/** The rendered image is (nearly) uniform: the model is not visible in it. */
class BlankCaptureError extends ThumbnailError {

	/** @param {string} [message] */
	constructor( message = 'The rendered image is blank' ) {

		super( Reason.BLANK_CAPTURE, message );
		this.name = 'BlankCaptureError';

	}

}

/**
 * Turn any thrown value into a {@link ThumbnailError}, keeping typed errors as they are.
 *
 * @param {unknown} error
 * @param {string} [fallbackReason] - Reason for errors that carry none.
 * @return {ThumbnailError}
 */
function toThumbnailError( error, fallbackReason = Reason.LOAD_ERROR ) {

	if ( error instanceof ThumbnailError ) return error;
	if ( error && error.name === 'AbortError' ) return new AbortError( error.message || 'Aborted' );
	const message = error && error.message ? error.message : String( error );
	return new ThumbnailError( fallbackReason, cleanMessage( message ), { cause: error } );

}

/**
 * Strip library prefixes ("THREE.GLTFLoader: ") so messages read well in the admin.
 *
 * @param {string} message
 * @return {string}
 */
function cleanMessage( message ) {

	return String( message ).replace( /^THREE\.\w+:\s*/, '' ).slice( 0, 2000 );

}

export {
	Reason,
	ThumbnailError,
	UnsupportedFormatError,
	LoadError,
	TimeoutError,
	AbortError,
	EmptySceneError,
	BlankCaptureError,
	toThumbnailError,
	cleanMessage,
};
