/**
 * The studio light every thumbnail is lit by: the PMREM (prefiltered, mipmapped radiance map)
 * of three's RoomEnvironment, so that metallic PBR models do not render as black silhouettes.
 *
 * Prefiltering it is the most expensive thing a page does on software GL: 256 GGX samples per
 * texel of the sharp levels took 5–6 s of SwiftShader time before the first thumbnail. The
 * result depends only on three's version and the two constants below, so it is baked once
 * (`manage.py bake_environment`, which calls `bakeEnvironment` in a real browser) into
 * `environment/room.bin` next to this module, and every page loads it as a texture
 * (`loadEnvironment`). When the file is missing or was baked for another three.js revision,
 * `createEnvironment` prefilters it at run time as before: slower, same light.
 *
 * File: gzip of [uint32 LE header length][UTF-8 JSON header][float16 RGB texels]. The texels
 * are stored face by face, each face's levels from the sharpest, rows bottom-up as WebGL reads
 * them. They are stored as sampled through a cube texture, which three mirrors in x (a render
 * target it does not): +X and −X swapped and every row reversed.
 */
import {
	CompressedCubeTexture,
	DataUtils,
	FloatType,
	HalfFloatType,
	LinearFilter,
	LinearMipmapLinearFilter,
	LinearSRGBColorSpace,
	PMREMGenerator,
	REVISION,
	RGBAFormat,
	WebGLRenderer,
} from 'three';
import { RoomEnvironment } from 'three/addons/environments/RoomEnvironment.js';

const BAKED_ENVIRONMENT_URL = new URL( './environment/room.bin', import.meta.url ).href;
const FORMAT = 'icosa-pmrem-1';
const ROOM_SIGMA = 0.04; // The blur applied to the room before prefiltering (radians).
const CUBE_SIZE = 256; // PMREMGenerator's default face size.
const FACES = 6;
const HALF_ONE = 0x3c00; // 1.0 as float16: the alpha of every texel.

/**
 * The room prefiltered now, on this renderer's GPU: a cube render target with one level per
 * roughness step.
 *
 * @param {import('three').WebGLRenderer} renderer
 * @return {import('three').WebGLCubeRenderTarget}
 */
function prefilterRoom( renderer ) {

	const pmrem = new PMREMGenerator( renderer );
	const room = new RoomEnvironment();
	const target = pmrem.fromScene( room, ROOM_SIGMA, 0.1, 100, { size: CUBE_SIZE } );
	room.dispose();
	pmrem.dispose();
	return target;

}

/**
 * The baked environment's texels, when there is a file for this three.js.
 *
 * @param {Object} [options]
 * @param {?string} [options.url] - Where the baked file is (the page config's `environmentUrl`;
 *   next to this module when empty).
 * @return {Promise<{baked: ?BakedEnvironment, note: string}>} `note` says why there is none:
 *   the file is missing, damaged or baked for another three.js revision.
 */
async function loadEnvironment( { url = null } = {} ) {

	let bytes;
	try {

		bytes = await readBakedFile( url || BAKED_ENVIRONMENT_URL );

	} catch ( error ) {

		return { baked: null, note: error.message };

	}

	return decodeEnvironment( bytes );

}

/**
 * A baked file's bytes, un-gzipped (what `decodeEnvironment` reads).
 *
 * @param {string} url
 * @return {Promise<Uint8Array>}
 * @throws {Error} Saying what went wrong, for the note.
 */
async function readBakedFile( url ) {

	const unreadable = ( error ) => new Error( `The baked environment could not be read: ${error.message}` );
	const response = await fetch( url, { credentials: 'same-origin' } ).catch( ( error ) => {

		throw unreadable( error );

	} );
	if ( ! response.ok ) throw new Error( `HTTP ${response.status} for the baked environment` );
	try {

		const stream = response.body.pipeThrough( new DecompressionStream( 'gzip' ) );
		return new Uint8Array( await new Response( stream ).arrayBuffer() );

	} catch ( error ) {

		throw unreadable( error );

	}

}

/**
 * The texels of a baked file's bytes (after gzip), or the reason they do not fit.
 *
 * @param {Uint8Array} bytes
 * @return {{baked: ?BakedEnvironment, note: string}}
 */
function decodeEnvironment( bytes ) {

	const refuse = ( note ) => ( { baked: null, note } );
	if ( bytes.byteLength < 4 ) return refuse( 'The baked environment is empty' );
	const view = new DataView( bytes.buffer, bytes.byteOffset, bytes.byteLength );
	const headerLength = view.getUint32( 0, true );
	if ( 4 + headerLength > bytes.byteLength ) return refuse( 'The baked environment is truncated' );
	let header;
	try {

		header = JSON.parse( new TextDecoder().decode( bytes.subarray( 4, 4 + headerLength ) ) );

	} catch ( error ) {

		return refuse( 'The baked environment has no valid header' );

	}

	if ( header.format !== FORMAT ) return refuse( `Unknown baked environment format ${header.format}` );
	if ( header.three !== REVISION || header.sigma !== ROOM_SIGMA || header.size !== CUBE_SIZE ) {

		return refuse( `The baked environment is for three.js r${header.three} (this page has r${REVISION}): run manage.py bake_environment` );

	}

	const sizes = levelSizes( header.size, header.levels );
	const texels = sizes.reduce( ( sum, size ) => sum + size * size, 0 ) * FACES;
	const dataOffset = 4 + headerLength;
	if ( bytes.byteLength - dataOffset !== texels * 3 * 2 ) return refuse( 'The baked environment is truncated' );
	// Copied so the float16 view is aligned whatever the header length.
	return { baked: { sizes, rgb: new Uint16Array( bytes.slice( dataOffset ).buffer ) }, note: '' };

}

/**
 * @typedef {Object} BakedEnvironment
 * @property {number[]} sizes - Face size of each level, sharpest first.
 * @property {Uint16Array} rgb - float16 RGB texels, face by face, level by level.
 */

let _halfToFloat = null;

/**
 * A cube texture of the baked texels. float32 where the GPU filters it (on SwiftShader a
 * float32 cube map is sampled ~40 % faster than float16, and it holds the same values),
 * float16 elsewhere.
 *
 * @param {BakedEnvironment} baked
 * @param {{float?: boolean}} [options]
 * @return {import('three').Texture}
 */
function environmentTexture( { sizes, rgb }, { float = false } = {} ) {

	if ( float && ! _halfToFloat ) {

		_halfToFloat = new Float32Array( 65536 );
		for ( let bits = 0; bits < 65536; bits ++ ) _halfToFloat[ bits ] = DataUtils.fromHalfFloat( bits );

	}

	const Texels = float ? Float32Array : Uint16Array;
	const value = float ? ( bits ) => _halfToFloat[ bits ] : ( bits ) => bits;
	const one = float ? 1 : HALF_ONE;
	let read = 0;
	const faces = [];
	for ( let face = 0; face < FACES; face ++ ) {

		const mipmaps = sizes.map( ( size ) => {

			const data = new Texels( size * size * 4 );
			for ( let texel = 0; texel < size * size; texel ++ ) {

				data[ texel * 4 ] = value( rgb[ read ++ ] );
				data[ texel * 4 + 1 ] = value( rgb[ read ++ ] );
				data[ texel * 4 + 2 ] = value( rgb[ read ++ ] );
				data[ texel * 4 + 3 ] = one;

			}

			return { data, width: size, height: size };

		} );
		faces.push( { width: sizes[ 0 ], height: sizes[ 0 ], mipmaps } );

	}

	// RGBA data through three's "compressed" cube path: the one that uploads every level
	// given (a data cube texture would count its levels one short for the PMREM shader).
	const texture = new CompressedCubeTexture( faces, RGBAFormat, float ? FloatType : HalfFloatType );
	texture.isPMREMTexture = true;
	texture.name = 'PMREM (baked)';
	texture.colorSpace = LinearSRGBColorSpace;
	texture.minFilter = LinearMipmapLinearFilter;
	texture.magFilter = LinearFilter;
	texture.generateMipmaps = false;
	texture.needsUpdate = true;
	return texture;

}

function levelSizes( size, levels ) {

	return Array.from( { length: levels }, ( _, level ) => size >> level );

}

/**
 * The environment for a renderer: the baked one when given, else prefiltered now.
 *
 * @param {import('three').WebGLRenderer} renderer
 * @param {?BakedEnvironment} [baked] - From `loadEnvironment`.
 * @return {{texture: import('three').Texture, source: 'baked'|'generated'}}
 */
function createEnvironment( renderer, baked = null ) {

	if ( ! baked ) return { texture: prefilterRoom( renderer ).texture, source: 'generated' };
	const float = renderer.extensions.has( 'OES_texture_float_linear' );
	return { texture: environmentTexture( baked, { float } ), source: 'baked' };

}

/**
 * Prefilter the environment on this renderer and return the file `loadEnvironment` reads
 * (before gzip, which the caller applies): what `manage.py bake_environment` stores.
 *
 * @param {import('three').WebGLRenderer} [renderer] - A renderer of its own when left out.
 * @return {{header: Object, bytes: Uint8Array}}
 */
function bakeEnvironment( renderer = null ) {

	if ( ! renderer ) {

		const own = new WebGLRenderer();
		try {

			return bakeEnvironment( own );

		} finally {

			own.dispose();

		}

	}

	const target = prefilterRoom( renderer );
	const levels = target.texture.mipmaps.length;
	const sizes = levelSizes( CUBE_SIZE, levels );
	const header = { format: FORMAT, three: REVISION, sigma: ROOM_SIGMA, size: CUBE_SIZE, levels, type: 'float16-rgb' };
	const headerBytes = new TextEncoder().encode( JSON.stringify( header ) );
	const texels = sizes.reduce( ( sum, size ) => sum + size * size, 0 ) * FACES;
	const bytes = new Uint8Array( 4 + headerBytes.byteLength + texels * 3 * 2 );
	new DataView( bytes.buffer ).setUint32( 0, headerBytes.byteLength, true );
	bytes.set( headerBytes, 4 );
	const rgb = new Uint16Array( texels * 3 );
	const gl = renderer.getContext();
	const previous = renderer.getRenderTarget();
	// Three samples a cube texture mirrored in x: store face +X where −X was and rows reversed.
	const sourceFace = [ 1, 0, 2, 3, 4, 5 ];
	let write = 0;
	for ( let face = 0; face < FACES; face ++ ) {

		sizes.forEach( ( size, level ) => {

			renderer.setRenderTarget( target, sourceFace[ face ], level );
			const pixels = new Float32Array( size * size * 4 );
			gl.readPixels( 0, 0, size, size, gl.RGBA, gl.FLOAT, pixels );
			for ( let row = 0; row < size; row ++ ) {

				for ( let column = size - 1; column >= 0; column -- ) {

					const at = ( row * size + column ) * 4;
					rgb[ write ++ ] = DataUtils.toHalfFloat( pixels[ at ] );
					rgb[ write ++ ] = DataUtils.toHalfFloat( pixels[ at + 1 ] );
					rgb[ write ++ ] = DataUtils.toHalfFloat( pixels[ at + 2 ] );

				}

			}

		} );

	}

	renderer.setRenderTarget( previous );
	target.dispose();
	bytes.set( new Uint8Array( rgb.buffer ), 4 + headerBytes.byteLength );
	return { header, bytes };

}

export {
	BAKED_ENVIRONMENT_URL,
	ROOM_SIGMA,
	bakeEnvironment,
	createEnvironment,
	decodeEnvironment,
	environmentTexture,
	loadEnvironment,
	readBakedFile,
};
