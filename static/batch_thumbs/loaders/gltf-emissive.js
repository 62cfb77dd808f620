/**
 * GLTFLoader plugin for a common exporter mistake: a material whose base colour is black (and
 * untextured) while its real colour sits in `emissiveFactor` / `emissiveTexture`. With
 * `KHR_materials_unlit` three.js drops the emissive terms altogether (an unlit material has
 * none), so the model draws as a black silhouette; a native viewer shows it black too. Such a
 * material is drawn in its emissive colour instead. Lit materials keep their emissive term,
 * which three.js already draws.
 *
 * It runs in `afterRoot`: GLTFLoader does not call plugins' `extendMaterialParams` for unlit
 * materials. The fixed material names are listed in the load's notes (`emissive_as_base`).
 */
import { Color, SRGBColorSpace } from 'three';

const NAME = 'ICOSA_emissive_as_base';

/** Below this (linear, every channel) a base colour counts as black. */
const BLACK = 0.01;

class GLTFEmissiveAsBasePlugin {

	constructor( parser ) {

		this.name = NAME;
		this.parser = parser;

	}

	async afterRoot( gltf ) {

		const parser = this.parser;
		const definitions = parser.json.materials || [];
		const fixed = [];
		const pending = [];
		const seen = new Set();
		if ( ! gltf.scene ) return; // A file without scenes: the loader reports the empty scene.
		gltf.scene.traverse( ( node ) => {

			for ( const material of Array.isArray( node.material ) ? node.material : node.material ? [ node.material ] : [] ) {

				if ( seen.has( material ) || ! material.isMeshBasicMaterial ) continue;
				seen.add( material );
				const association = parser.associations.get( material );
				const definition = association && definitions[ association.materials ];
				if ( ! definition || ! blackBase( definition ) || ! hasEmissive( definition ) ) continue;
				const factor = definition.emissiveFactor || [ 1, 1, 1 ];
				const strength = ( definition.extensions && definition.extensions.KHR_materials_emissive_strength
					&& Number( definition.extensions.KHR_materials_emissive_strength.emissiveStrength ) ) || 1;
				material.color = new Color().setRGB( factor[ 0 ], factor[ 1 ], factor[ 2 ] ).multiplyScalar( Math.min( strength, 1 ) );
				if ( definition.emissiveTexture !== undefined ) {

					pending.push( parser.getDependency( 'texture', definition.emissiveTexture.index ).then( ( texture ) => {

						texture.colorSpace = SRGBColorSpace;
						material.map = texture;
						material.needsUpdate = true;

					} ) );

				}

				material.needsUpdate = true;
				fixed.push( material.name || `material ${association.materials}` );

			}

		} );
		await Promise.all( pending );
		if ( fixed.length > 0 ) {

			const thumbnail = gltf.scene.userData.thumbnail = gltf.scene.userData.thumbnail || {};
			thumbnail.notes = { ...( thumbnail.notes || {} ), emissive_as_base: fixed };

		}

	}

}

function blackBase( definition ) {

	const pbr = definition.pbrMetallicRoughness || {};
	if ( pbr.baseColorTexture !== undefined ) return false;
	const factor = Array.isArray( pbr.baseColorFactor ) ? pbr.baseColorFactor : [ 1, 1, 1, 1 ];
	return factor[ 0 ] < BLACK && factor[ 1 ] < BLACK && factor[ 2 ] < BLACK;

}

function hasEmissive( definition ) {

	if ( definition.emissiveTexture !== undefined ) return true;
	const factor = definition.emissiveFactor;
	return Array.isArray( factor ) && Math.max( factor[ 0 ], factor[ 1 ], factor[ 2 ] ) >= BLACK;

}

/**
 * @return {function(import('three/addons/loaders/GLTFLoader.js').GLTFParser): GLTFEmissiveAsBasePlugin}
 */
function emissiveAsBasePlugin() {

	return ( parser ) => new GLTFEmissiveAsBasePlugin( parser );

}

export { emissiveAsBasePlugin };
