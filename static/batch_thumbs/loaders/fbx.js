/**
 * Autodesk FBX (binary or ASCII 7.x); textures resolved through the manager (absolute Windows
 * paths resolve by file name to the asset's own files).
 */
import { FBXLoader } from 'three/addons/loaders/FBXLoader.js';

/**
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: import('three').Object3D, animations: import('three').AnimationClip[]}>}
 */
async function loadFbx( context ) {

	const buffer = await context.fetchRoot();
	const object = new FBXLoader( context.manager ).parse( buffer, context.resourcePath );
	return { object, animations: object.animations || [] };

}

export { loadFbx };
