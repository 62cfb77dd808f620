/**
 * Texture cap: no texture is uploaded larger than the output can show.
 *
 * A 4096² base colour map on a model that fills a 1280×800 frame is sampled from a mip level
 * of about 1024² anyway; uploading it whole costs the decode's 64 MB, the upload and a full
 * mip chain (on SwiftShader all of it on the CPU). Images whose longest side is above the cap
 * are downscaled once, after decoding and before the upload, with `createImageBitmap`'s
 * high-quality resize; compressed (KTX2) and data textures are left alone.
 *
 * The cap is one number: the page config's `textureCap` (THUMBNAIL_TEXTURE_CAP) when it sets one, else the next
 * power of two at or above the output's longest side (1280×800 → 2048: at least one texel per
 * pixel even for a texture stretched across the whole frame). `0` or `false` turns it off.
 */

/**
 * The longest texture side to upload for an output of `width` × `height`.
 *
 * @param {unknown} setting - A positive number, 0/false (no cap), or unset (derived).
 * @param {number} width
 * @param {number} height
 * @return {number} Pixels, or Infinity for no cap.
 */
function textureCap( setting, width, height ) {

	if ( setting === false || setting === 0 || setting === '0' ) return Infinity;
	const number = Number( setting );
	if ( setting !== null && setting !== undefined && setting !== '' && Number.isFinite( number ) && number > 0 ) return Math.max( 1, Math.round( number ) );
	const longest = Math.max( 1, Number( width ) || 0, Number( height ) || 0 );
	return 2 ** Math.ceil( Math.log2( longest ) );

}

/**
 * The size an image of `width` × `height` is uploaded at under `cap` (aspect ratio kept).
 *
 * @param {number} width
 * @param {number} height
 * @param {number} cap
 * @return {{width: number, height: number}}
 */
function cappedSize( width, height, cap ) {

	const longest = Math.max( width, height );
	if ( ! ( longest > cap ) ) return { width, height };
	const scale = cap / longest;
	return { width: Math.max( 1, Math.round( width * scale ) ), height: Math.max( 1, Math.round( height * scale ) ) };

}

/** A decoded image `createImageBitmap` can resize (not a compressed or data texture). */
function resizableImage( texture ) {

	if ( ! texture || ! texture.isTexture || texture.isCompressedTexture || texture.isDataTexture || texture.isCubeTexture
		|| texture.isVideoTexture || texture.isDepthTexture || texture.isRenderTargetTexture ) return null;
	const image = texture.source && texture.source.data;
	if ( ! image ) return null;
	const isImage = ( typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap )
		|| ( typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement && image.complete && image.naturalWidth > 0 )
		|| ( typeof HTMLCanvasElement !== 'undefined' && image instanceof HTMLCanvasElement )
		|| ( typeof OffscreenCanvas !== 'undefined' && image instanceof OffscreenCanvas );
	return isImage ? image : null;

}

/**
 * Downscale every image above `cap` in place (per shared Source, so textures that share an
 * image are resized once). The new ImageBitmap carries the orientation the texture asked for,
 * so the textures get `flipY = false` (WebGL's flip does not apply to ImageBitmaps). A failed
 * resize leaves that texture as it was.
 *
 * @param {Iterable<import('three').Texture>} textures
 * @param {number} cap - Longest side in pixels (Infinity: nothing to do).
 * @param {AbortSignal} [signal] - Once aborted (the asset is being disposed), resized images
 *   are closed instead of swapped in.
 * @return {Promise<number>} How many images were downscaled.
 */
async function capTextures( textures, cap, signal ) {

	if ( ! ( cap > 0 ) || cap === Infinity ) return 0;
	const bySource = new Map();
	for ( const texture of textures ) {

		const image = resizableImage( texture );
		if ( ! image ) continue;
		const group = bySource.get( texture.source ) || [];
		group.push( texture );
		bySource.set( texture.source, group );

	}

	const jobs = [];
	for ( const [ source, group ] of bySource ) {

		const image = source.data;
		const width = image.naturalWidth || image.width;
		const height = image.naturalHeight || image.height;
		const size = cappedSize( width, height, cap );
		if ( size.width === width && size.height === height ) continue;
		const { flipY, premultiplyAlpha } = group[ 0 ];
		if ( group.some( ( texture ) => texture.flipY !== flipY || texture.premultiplyAlpha !== premultiplyAlpha ) ) continue;
		jobs.push( createImageBitmap( image, {
			resizeWidth: size.width,
			resizeHeight: size.height,
			resizeQuality: 'high',
			imageOrientation: flipY ? 'flipY' : 'from-image',
			premultiplyAlpha: premultiplyAlpha ? 'premultiply' : 'none',
			colorSpaceConversion: 'none',
		} ).then( ( bitmap ) => {

			if ( signal && signal.aborted ) {

				bitmap.close();
				return 0;

			}

			if ( typeof image.close === 'function' ) image.close();
			source.data = bitmap;
			source.needsUpdate = true;
			for ( const texture of group ) {

				texture.flipY = false;
				texture.premultiplyAlpha = false;
				texture.userData.capped = { from: [ width, height ], to: [ size.width, size.height ] };

			}

			return 1;

		}, () => 0 ) );

	}

	const done = await Promise.all( jobs );
	return done.reduce( ( sum, count ) => sum + count, 0 );

}

export { capTextures, cappedSize, textureCap };
