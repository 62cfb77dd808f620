/**
 * Cancellation helpers: deadlines, abort reasons and abortable waits.
 *
 * Skip, Stop and timeouts all abort an AbortSignal; its `reason` is a typed
 * {@link ThumbnailError} so whoever catches it knows what happened.
 */
import { AbortError, ThumbnailError, TimeoutError } from './errors.js';

/**
 * The typed error behind an aborted signal.
 *
 * @param {AbortSignal} signal
 * @return {ThumbnailError}
 */
function reasonOf( signal ) {

	const reason = signal.reason;
	if ( reason instanceof ThumbnailError ) return reason;
	if ( reason && reason.name === 'TimeoutError' ) return new TimeoutError( 0 );
	const message = reason && reason.message ? reason.message : ( typeof reason === 'string' ? reason : 'Aborted' );
	return new AbortError( message );

}

/**
 * Throw the signal's typed reason if it has been aborted.
 *
 * @param {AbortSignal|undefined|null} signal
 */
function throwIfAborted( signal ) {

	if ( signal && signal.aborted ) throw reasonOf( signal );

}

/**
 * A child signal that aborts when `parent` aborts or after `ms` milliseconds (with a
 * {@link TimeoutError}). Call `dispose()` when done so the timer and listener go away.
 *
 * @param {AbortSignal|undefined|null} parent
 * @param {number} ms - Budget in milliseconds; `Infinity`, 0 or null for no timeout.
 * @return {{signal: AbortSignal, dispose: function(): void}}
 */
function createDeadline( parent, ms ) {

	const controller = new AbortController();
	let timer = null;
	const onParentAbort = () => controller.abort( reasonOf( parent ) );

	if ( parent ) {

		if ( parent.aborted ) onParentAbort();
		else parent.addEventListener( 'abort', onParentAbort, { once: true } );

	}

	if ( ms && Number.isFinite( ms ) && ms > 0 && ! controller.signal.aborted ) {

		timer = setTimeout( () => controller.abort( new TimeoutError( ms ) ), ms );

	}

	return {
		signal: controller.signal,
		dispose() {

			if ( timer !== null ) clearTimeout( timer );
			timer = null;
			if ( parent ) parent.removeEventListener( 'abort', onParentAbort );

		},
	};

}

/**
 * Settle with `promise`, or reject with the signal's typed reason as soon as it aborts.
 * A value that arrives after the abort is handed to `onLate` (e.g. to dispose it).
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal|undefined|null} signal
 * @param {function(T): void} [onLate]
 * @return {Promise<T>}
 */
function abortable( promise, signal, onLate ) {

	if ( ! signal ) return promise;

	return new Promise( ( resolve, reject ) => {

		let done = false;
		const onAbort = () => {

			if ( done ) return;
			done = true;
			reject( reasonOf( signal ) );

		};

		if ( signal.aborted ) onAbort();
		else signal.addEventListener( 'abort', onAbort, { once: true } );

		promise.then( ( value ) => {

			signal.removeEventListener( 'abort', onAbort );
			if ( done ) {

				if ( onLate ) onLate( value );
				return;

			}

			done = true;
			resolve( value );

		}, ( error ) => {

			signal.removeEventListener( 'abort', onAbort );
			if ( done ) return;
			done = true;
			reject( error );

		} );

	} );

}

/**
 * Wait `ms` milliseconds unless the signal aborts first (used for retry backoff only).
 *
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @return {Promise<void>}
 */
function delay( ms, signal ) {

	return abortable( new Promise( ( resolve ) => setTimeout( resolve, ms ) ), signal );

}

export { reasonOf, throwIfAborted, createDeadline, abortable, delay };
