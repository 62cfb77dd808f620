/**
 * Formats three.js ships a loader for and that need no more than that loader: MagicaVoxel VOX,
 * USDZ, COLLADA, 3DS, 3MF and AMF. Each reads the root file through the context (checked fetch,
 * byte cap) and resolves textures through the context's manager (the fetch policy).
 */
import { Group } from 'three';
import { VOXLoader, buildMesh } from 'three/addons/loaders/VOXLoader.js';
import { USDLoader } from 'three/addons/loaders/USDLoader.js';
import { ColladaLoader } from 'three/addons/loaders/ColladaLoader.js';
import { TDSLoader } from 'three/addons/loaders/TDSLoader.js';
import { ThreeMFLoader } from 'three/addons/loaders/3MFLoader.js';
import { AMFLoader } from 'three/addons/loaders/AMFLoader.js';

import { LoadError, Reason } from '../errors.js';
import { displayName, headText } from './context.js';
import { zUpToYUp } from './mesh-files.js';

function invalid( context, what ) {

	return new LoadError( `${displayName( context.rootUrl )} is not a valid ${what} file`, { reason: Reason.INVALID_FILE } );

}

function isZip( buffer ) {

	const bytes = new Uint8Array( buffer, 0, Math.min( 4, buffer.byteLength ) );
	return bytes[ 0 ] === 0x50 && bytes[ 1 ] === 0x4b && bytes[ 2 ] === 0x03 && bytes[ 3 ] === 0x04;

}

/**
 * MagicaVoxel VOX: one mesh per model with its palette as vertex colours. Files with a scene
 * graph (nTRN/nGRP/nSHP) come placed and Y-up from the loader; bare models are Z-up.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function loadVox( context ) {

	const buffer = await context.fetchRoot();
	if ( headText( buffer, 4 ) !== 'VOX ' ) throw invalid( context, 'MagicaVoxel VOX' );
	const result = new VOXLoader( context.manager ).parse( buffer );
	if ( ! result ) throw invalid( context, 'MagicaVoxel VOX' );
	if ( result.scene ) return { object: result.scene };
	const group = new Group();
	for ( const chunk of result.chunks ) group.add( buildMesh( chunk ) );
	return { object: zUpToYUp( group ) };

}

/**
 * USDZ (a zip of usda/usdc and images) with three's USDLoader (USDZLoader is its deprecated
 * alias); resolves once the embedded textures are decoded.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function loadUsdz( context ) {

	const buffer = await context.fetchRoot();
	if ( ! isZip( buffer ) && ! /^(#usda|PXR-USDC)/.test( headText( buffer, 8 ) ) ) throw invalid( context, 'USDZ' );
	const object = await new Promise( ( resolve, reject ) => {

		try {

			new USDLoader( context.manager ).parse( buffer, context.resourcePath, resolve, reject );

		} catch ( error ) {

			reject( error );

		}

	} );
	return { object, animations: object.animations || [] };

}

/**
 * COLLADA 1.4/1.5 (`.dae`); the loader turns Z-up files upright itself.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function loadDae( context ) {

	const text = headText( await context.fetchRoot(), Infinity );
	if ( ! /<COLLADA[\s>]/.test( text ) ) throw invalid( context, 'COLLADA' );
	const collada = new ColladaLoader( context.manager ).parse( text, context.resourcePath );
	if ( ! collada || ! collada.scene ) throw invalid( context, 'COLLADA' );
	return { object: collada.scene, animations: collada.scene.animations || [] };

}

/**
 * Autodesk 3DS. Texture names are often upper case while the files are not: the context's
 * resolver ignores case.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function load3ds( context ) {

	const buffer = await context.fetchRoot();
	const view = new DataView( buffer );
	if ( buffer.byteLength < 6 || view.getUint16( 0, true ) !== 0x4d4d ) throw invalid( context, '3DS' );
	const loader = new TDSLoader( context.manager );
	loader.setResourcePath( context.resourcePath );
	return { object: loader.parse( buffer, context.resourcePath ) };

}

/**
 * 3MF (a zip of XML). Z-up by specification.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function load3mf( context ) {

	const buffer = await context.fetchRoot();
	if ( ! isZip( buffer ) ) throw invalid( context, '3MF' );
	return { object: zUpToYUp( new ThreeMFLoader( context.manager ).parse( buffer ) ) };

}

/**
 * AMF (XML, or a zip of it). Z-up by specification.
 *
 * @param {import('./context.js').LoadContext} context
 */
async function loadAmf( context ) {

	const buffer = await context.fetchRoot();
	if ( ! isZip( buffer ) && ! /<amf[\s>]/.test( headText( buffer, 4096 ) ) ) throw invalid( context, 'AMF' );
	const object = new AMFLoader( context.manager ).parse( buffer );
	if ( ! object ) throw invalid( context, 'AMF' );
	return { object: zUpToYUp( object ) };

}

export { load3ds, load3mf, loadAmf, loadDae, loadUsdz, loadVox };
