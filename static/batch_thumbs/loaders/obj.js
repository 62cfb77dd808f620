/**
 * Wavefront OBJ, with its MTL (and the MTL's textures) when the format has one.
 */
import { LoaderUtils } from 'three';
import { OBJLoader } from 'three/addons/loaders/OBJLoader.js';
import { MTLLoader } from 'three/addons/loaders/MTLLoader.js';

import { headText } from './context.js';

/**
 * Two MTL habits of real exporters that would hide the model: `Tr 1` (or `d 0`) written for
 * opaque materials (nobody uploads an invisible model on purpose: drawn opaque), and `Ns 0`
 * with a white `Ks` (a Phong exponent of 0 lights every pixel fully: no highlight instead).
 *
 * @param {import('three').Object3D} root
 */
function fixMtlQuirks( root ) {

	root.traverse( ( node ) => {

		const materials = Array.isArray( node.material ) ? node.material : node.material ? [ node.material ] : [];
		for ( const material of materials ) {

			if ( material.opacity <= 0.02 ) {

				material.opacity = 1;
				material.transparent = false;
				material.needsUpdate = true;

			}

			if ( material.isMeshPhongMaterial && material.shininess < 1 ) material.specular.setScalar( 0 );

		}

	} );

}

/**
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: import('three').Object3D}>}
 */
async function loadObj( context ) {

	const buffer = await context.fetchRoot();
	const text = headText( buffer, buffer.byteLength );
	const loader = new OBJLoader( context.manager );

	const mtllib = text.match( /^\s*mtllib\s+(.+?)\s*$/m );
	const mtlName = mtllib ? mtllib[ 1 ] : null;
	let mtlPath = mtlName && context.findResource( mtlName ) ? mtlName : null;
	if ( ! mtlPath ) mtlPath = context.listResources().find( ( name ) => /\.mtl$/i.test( name ) ) || null;

	if ( mtlPath ) {

		const mtlUrl = new URL( mtlPath, context.resourcePath ).href;
		// MTLLoader splits a statement at its first space; MeshLab and others write tabs.
		const mtlText = headText( await context.fetchBuffer( mtlUrl ), Infinity ).replace( /[ \t]+/g, ' ' );
		const creator = new MTLLoader( context.manager ).parse( mtlText, LoaderUtils.extractUrlBase( mtlUrl ) );
		creator.preload();
		loader.setMaterials( creator );

	}

	const object = loader.parse( text );
	fixMtlQuirks( object );
	return { object };

}

export { fixMtlQuirks, loadObj };
