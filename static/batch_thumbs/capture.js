/**
 * Capture: render and read the canvas back in the same task, and refuse blank pictures.
 *
 * The renderer keeps `preserveDrawingBuffer`, so the JPEG is exactly the frame just drawn.
 * `analyseImage` and `assertNotBlank` are pure (image data in, numbers out).
 */
import { BlankCaptureError, ThumbnailError, Reason } from './errors.js';

let _sampleCanvas = null;

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
 * @return {{dataUrl: string, width: number, height: number, stats: ImageStats}}
 * @throws {BlankCaptureError|ThumbnailError}
 */
function renderAndCapture( context, scene, camera, { quality = 0.85, background } ) {

	const { renderer, canvas } = context;
	if ( context.isContextLost() ) throw new ThumbnailError( Reason.RENDER_ERROR, 'The WebGL context was lost' );
	renderer.render( scene, camera );
	const dataUrl = canvas.toDataURL( 'image/jpeg', quality );
	const stats = analyseImage( sampleCanvas( canvas ), background );
	assertNotBlank( stats );
	return { dataUrl, width: canvas.width, height: canvas.height, stats };

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

export {
	renderAndCapture,
	sampleCanvas,
	analyseImage,
	assertNotBlank,
};
