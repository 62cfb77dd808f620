/**
 * Capture: render and read the canvas back in the same task, and refuse blank pictures.
 *
 * The renderer keeps `preserveDrawingBuffer`, so the JPEG is exactly the frame just drawn.
 * `canvas.toBlob` copies the frame at once and encodes it off the page's main thread, so the
 * next asset may draw into the canvas while this one's JPEG is still being made.
 * `analyseImage`, `assertNotBlank`, `measureSubject` and `qualityRecord` are pure (image data in,
 * numbers out). The quality record says whether a capture that passed the blank check is still
 * doubtful (a black silhouette, a subject in the background's colour, a speck, cut off at the
 * edge): such captures are stored but flagged for review.
 */
import { BlankCaptureError, ThumbnailError, Reason } from './errors.js';
import { stopwatch } from './stopwatch.js';

let _sampleCanvas = null;
const _pixel = new Uint8Array( 4 );

/** The page config's `quality` thresholds; until configured nothing is flagged. */
let _thresholds = null;

/**
 * @param {{darkBrightness: number, minContrast: number, minCoverage: number}|null} thresholds
 */
function configureQuality( thresholds ) {

	_thresholds = thresholds ? {
		darkBrightness: Number( thresholds.darkBrightness ) || 0,
		minContrast: Number( thresholds.minContrast ) || 0,
		minCoverage: Number( thresholds.minCoverage ) || 0,
	} : null;

}

/**
 * @typedef {Object} ImageStats
 * @property {number} coverage - Fraction of sampled pixels that differ from the background.
 * @property {number} centerCoverage - The same for the central half of the image.
 * @property {number} deviation - Standard deviation of luminance (0–255).
 * @property {number} mean - Mean luminance (0–255).
 */

/**
 * Render and capture in the same task, then check the image is not blank.
 *
 * @param {import('./renderer.js').RenderContext} context
 * @param {import('three').Scene} scene
 * @param {import('three').Camera} camera
 * @param {Object} [options]
 * @param {number} [options.quality=0.85] - JPEG quality 0..1.
 * @param {string} options.background - Background colour as "#rrggbb" (see `parseBackground`),
 *   for blank detection.
 * @return {{image: Promise<Blob>, width: number, height: number, stats: ImageStats, quality: QualityRecord, qualityMs: number,
 *   times: {draw: number, encode: number, sample: number}}} `times`: ms per step of this capture.
 * @throws {BlankCaptureError|ThumbnailError}
 */
function renderAndCapture( context, scene, camera, { quality = 0.85, background } ) {

	const { renderer, canvas } = context;
	if ( context.isContextLost() ) throw new ThumbnailError( Reason.RENDER_ERROR, 'The WebGL context was lost' );
	const { lap, sinceLap, times } = stopwatch();

	renderer.render( scene, camera );
	// One pixel read back waits for the frame itself: the GPU (SwiftShader) draws, uploads
	// textures and builds pipelines lazily, so without it `encode` would hold the whole draw.
	const gl = renderer.getContext();
	gl.readPixels( 0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, _pixel );
	lap( 'draw' );
	const image = encodeJpeg( canvas, quality );
	lap( 'encode' );
	const sample = sampleCanvas( canvas );
	const stats = analyseImage( sample, background );
	assertNotBlank( stats );
	lap( 'sample' );
	const record = qualityRecord( measureSubject( sample, background ), _thresholds );
	const qualityMs = sinceLap();
	return { image, width: canvas.width, height: canvas.height, stats, quality: record, qualityMs, times };

}

/**
 * The canvas as a JPEG: the frame is copied now, the encoding finishes later.
 *
 * @param {HTMLCanvasElement} canvas
 * @param {number} quality - 0..1.
 * @return {Promise<Blob>}
 * @throws {ThumbnailError} reason `render_error` (through the promise) when nothing came out.
 */
function encodeJpeg( canvas, quality ) {

	const encoded = new Promise( ( resolve, reject ) => canvas.toBlob( ( blob ) => {

		if ( blob && blob.size > 0 ) resolve( blob );
		else reject( new ThumbnailError( Reason.RENDER_ERROR, 'The capture could not be encoded as JPEG' ) );

	}, 'image/jpeg', quality ) );
	encoded.catch( () => undefined ); // Whoever awaits it sees the error; a dropped capture does not warn.
	return encoded;

}

/**
 * A downscaled copy of the canvas pixels (what the capture holds).
 *
 * @param {HTMLCanvasElement} canvas
 * @return {ImageData}
 */
function sampleCanvas( canvas ) {

	const width = 128;
	const height = Math.max( 1, Math.round( width * canvas.height / canvas.width ) );
	if ( ! _sampleCanvas ) _sampleCanvas = document.createElement( 'canvas' );
	_sampleCanvas.width = width;
	_sampleCanvas.height = height;
	const context2d = _sampleCanvas.getContext( '2d', { willReadFrequently: true } );
	context2d.drawImage( canvas, 0, 0, width, height );
	return context2d.getImageData( 0, 0, width, height );

}

/**
 * Pixel statistics of an image against its background colour (pure).
 *
 * @param {{data: Uint8ClampedArray, width: number, height: number}} image
 * @param {string} background - "#rrggbb".
 * @param {number} [tolerance=24] - Summed RGB difference counted as "not background".
 * @return {ImageStats}
 */
function analyseImage( image, background, tolerance = 24 ) {

	const { data, width, height } = image;
	const bg = parseInt( background.slice( 1 ), 16 );
	const br = ( bg >> 16 ) & 255, bgG = ( bg >> 8 ) & 255, bb = bg & 255;
	let differing = 0, centerDiffering = 0, centerTotal = 0, sum = 0, sumSquares = 0;
	const total = width * height;

	for ( let y = 0; y < height; y ++ ) {

		const inCenterRow = y >= height / 4 && y < height * 3 / 4;
		for ( let x = 0; x < width; x ++ ) {

			const i = 4 * ( y * width + x );
			const r = data[ i ], g = data[ i + 1 ], b = data[ i + 2 ];
			const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
			sum += luma;
			sumSquares += luma * luma;
			const differs = Math.abs( r - br ) + Math.abs( g - bgG ) + Math.abs( b - bb ) > tolerance;
			if ( differs ) differing ++;
			if ( inCenterRow && x >= width / 4 && x < width * 3 / 4 ) {

				centerTotal ++;
				if ( differs ) centerDiffering ++;

			}

		}

	}

	const mean = sum / total;
	return {
		coverage: differing / total,
		centerCoverage: centerTotal ? centerDiffering / centerTotal : 0,
		deviation: Math.sqrt( Math.max( 0, sumSquares / total - mean * mean ) ),
		mean,
	};

}

/**
 * Refuse near-uniform images and images where (almost) nothing differs from the background.
 *
 * @param {ImageStats} stats
 * @param {{minCoverage?: number, minDeviation?: number}} [limits]
 * @throws {BlankCaptureError}
 */
function assertNotBlank( stats, { minCoverage = 0.003, minDeviation = 2 } = {} ) {

	if ( stats.deviation < minDeviation ) {

		throw new BlankCaptureError( `The rendered image is blank (uniform, mean luminance ${Math.round( stats.mean )})` );

	}

	if ( stats.coverage < minCoverage ) {

		throw new BlankCaptureError( `The rendered image shows only the background (${( stats.coverage * 100 ).toFixed( 2 )}% of pixels differ)` );

	}

}

/**
 * @typedef {Object} SubjectStats
 * @property {number} coverage - Share of the frame the subject covers (0..1).
 * @property {number} margin - Distance of the subject's bounding box from the nearest frame
 *   edge, as a share of that side (0 when it touches).
 * @property {number} luminance - Mean luminance (Rec. 709 luma) of the subject (0..1).
 * @property {number} brightness - Mean of the subject's brightest channel (0..1): what "nearly
 *   black" is judged on, since a saturated blue has a luma of 0.07 and is plainly not black.
 * @property {number} contrast - Mean colour difference of the subject from the background
 *   (summed |ΔR|+|ΔG|+|ΔB| over 3 × 255, 0..1).
 * @property {boolean} clipped - The subject touches the frame's edge.
 */

/**
 * The subject (pixels that differ from the background) and how it stands out (pure).
 *
 * @param {{data: Uint8ClampedArray, width: number, height: number}} image
 * @param {string} background - "#rrggbb".
 * @param {number} [tolerance=24] - Summed RGB difference counted as "subject", as `analyseImage`.
 * @return {SubjectStats}
 */
function measureSubject( image, background, tolerance = 24 ) {

	const { data, width, height } = image;
	const bg = parseInt( background.slice( 1 ), 16 );
	const br = ( bg >> 16 ) & 255, bgG = ( bg >> 8 ) & 255, bb = bg & 255;
	let count = 0, luma = 0, brightest = 0, difference = 0;
	let minX = width, minY = height, maxX = - 1, maxY = - 1;
	for ( let y = 0; y < height; y ++ ) {

		for ( let x = 0; x < width; x ++ ) {

			const i = 4 * ( y * width + x );
			const r = data[ i ], g = data[ i + 1 ], b = data[ i + 2 ];
			const delta = Math.abs( r - br ) + Math.abs( g - bgG ) + Math.abs( b - bb );
			if ( delta <= tolerance ) continue;
			count ++;
			luma += 0.2126 * r + 0.7152 * g + 0.0722 * b;
			brightest += Math.max( r, g, b );
			difference += delta;
			if ( x < minX ) minX = x;
			if ( x > maxX ) maxX = x;
			if ( y < minY ) minY = y;
			if ( y > maxY ) maxY = y;

		}

	}

	if ( count === 0 ) return { coverage: 0, margin: 0, luminance: 0, brightness: 0, contrast: 0, clipped: false };
	const margin = Math.min( minX / width, ( width - 1 - maxX ) / width, minY / height, ( height - 1 - maxY ) / height );
	return {
		coverage: count / ( width * height ),
		margin,
		luminance: luma / count / 255,
		brightness: brightest / count / 255,
		contrast: difference / count / ( 3 * 255 ),
		clipped: margin <= 0,
	};

}

/**
 * @typedef {Object} QualityRecord - Sent as the upload's `render_settings.quality`.
 * @property {number} coverage
 * @property {number} margin
 * @property {number} luminance
 * @property {number} contrast
 * @property {string[]} flags - Of `dark_subject`, `low_contrast`, `tiny_subject`, `clipped`.
 */

/**
 * The subject's numbers, rounded, with the flags the thresholds give (pure).
 *
 * @param {SubjectStats} subject
 * @param {{darkBrightness: number, minContrast: number, minCoverage: number}|null} thresholds -
 *   null: no flags but `clipped`.
 * @return {QualityRecord}
 */
function qualityRecord( subject, thresholds ) {

	const flags = [];
	if ( thresholds && subject.brightness < thresholds.darkBrightness ) flags.push( 'dark_subject' );
	if ( thresholds && subject.contrast < thresholds.minContrast ) flags.push( 'low_contrast' );
	if ( thresholds && subject.coverage < thresholds.minCoverage ) flags.push( 'tiny_subject' );
	if ( subject.clipped ) flags.push( 'clipped' );
	const round = ( value ) => Math.round( value * 1000 ) / 1000;
	return {
		coverage: round( subject.coverage ),
		margin: round( subject.margin ),
		luminance: round( subject.luminance ),
		contrast: round( subject.contrast ),
		flags,
	};

}

export {
	configureQuality,
	measureSubject,
	qualityRecord,
	renderAndCapture,
	sampleCanvas,
	analyseImage,
	assertNotBlank,
};
