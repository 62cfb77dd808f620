/**
 * glTF 2.0, binary (.glb) or JSON (.gltf, with sidecar .bin and textures or data URIs), with
 * Draco, KTX2 and Meshopt. A `.gltf` that is really glTF 1.0 (`asset.version` "1.x", or
 * object-valued `buffers`) goes to the registry's GLTF1 loader.
 */
import { Group } from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { KTX2Loader } from 'three/addons/loaders/KTX2Loader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

import { LoadError, Reason } from '../errors.js';
import { displayName, headText } from './context.js';
import { brushMaterialsPlugin } from './gltf-brushes.js';
import { emissiveAsBasePlugin } from './gltf-emissive.js';
import { isGltf1 } from './gltf1.js';

/** Shared decoders: one DRACOLoader (and its workers) for every load. */
const _decoders = { draco: null, ktx2: null, ktx2Renderer: null, dracoPath: null, basisPath: null };

/**
 * Configure the shared decoders. Call once, after the renderer exists (KTX2 needs it to detect
 * which compressed texture formats the GPU supports).
 *
 * @param {{draco?: string, basis?: string, renderer?: import('three').WebGLRenderer}} options -
 *   `draco`/`basis` are decoder folder URLs.
 */
function configureDecoders( { draco, basis, renderer } = {} ) {

	if ( draco && draco !== _decoders.dracoPath ) {

		if ( _decoders.draco ) _decoders.draco.dispose();
		_decoders.draco = new DRACOLoader().setDecoderPath( withSlash( draco ) );
		_decoders.draco.preload();
		_decoders.dracoPath = draco;

	}

	if ( basis && renderer && ( basis !== _decoders.basisPath || renderer !== _decoders.ktx2Renderer ) ) {

		if ( _decoders.ktx2 ) _decoders.ktx2.dispose();
		_decoders.ktx2 = new KTX2Loader().setTranscoderPath( withSlash( basis ) ).detectSupport( renderer );
		_decoders.ktx2Renderer = renderer;
		_decoders.basisPath = basis;

	}

}

/**
 * Start the KTX2 transcoder now (fetched and compiled once) rather than on the first asset that
 * needs it; Draco's is already preloaded by `configureDecoders`. A transcoder that fails to
 * start is left to fail that asset's load.
 *
 * @return {Promise<void>}
 */
async function warmDecoders() {

	if ( _decoders.ktx2 ) await _decoders.ktx2.init().catch( () => undefined );

}

/**
 * Release decoder workers (end of a run).
 */
function disposeDecoders() {

	if ( _decoders.draco ) _decoders.draco.dispose();
	if ( _decoders.ktx2 ) _decoders.ktx2.dispose();
	Object.assign( _decoders, { draco: null, ktx2: null, ktx2Renderer: null, dracoPath: null, basisPath: null } );

}

function withSlash( path ) {

	return path.endsWith( '/' ) ? path : `${path}/`;

}

/**
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: import('three').Object3D, animations: import('three').AnimationClip[]}>}
 */
async function loadGltf( context ) {

	const data = await context.fetchRoot();
	const magic = String.fromCharCode( ...new Uint8Array( data, 0, Math.min( 4, data.byteLength ) ) );
	const text = magic === 'glTF' ? null : headText( data, 64 ).trimStart();
	if ( magic !== 'glTF' && text[ 0 ] !== '{' ) {

		throw new LoadError( `${displayName( context.rootUrl )} is not a glTF file (no glTF header or JSON)`, { reason: Reason.INVALID_FILE } );

	}

	if ( isGltf1( data ) ) return context.delegate( 'GLTF1' ); // a .gltf typed GLTF2 that says 1.x

	const loader = new GLTFLoader( context.manager );
	if ( _decoders.draco ) loader.setDRACOLoader( _decoders.draco );
	if ( _decoders.ktx2 ) loader.setKTX2Loader( _decoders.ktx2 );
	loader.setMeshoptDecoder( MeshoptDecoder );
	loader.register( brushMaterialsPlugin( context ) );
	loader.register( emissiveAsBasePlugin() );

	const gltf = await new Promise( ( resolve, reject ) => {

		try {

			loader.parse( data, context.resourcePath, resolve, reject );

		} catch ( error ) {

			reject( error );

		}

	} );

	const object = gltf.scene || ( gltf.scenes && gltf.scenes[ 0 ] ) || new Group();
	return { object, animations: gltf.animations || [] };

}

export { configureDecoders, disposeDecoders, loadGltf, warmDecoders };
