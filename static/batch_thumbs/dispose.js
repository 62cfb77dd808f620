/**
 * Free the GPU and CPU memory held by a loaded model.
 *
 * Removing a mesh from a scene frees nothing: geometries, materials, their textures and
 * skeleton bone textures each need `dispose()`. Decoded ImageBitmaps are closed as well.
 */

/**
 * Every texture referenced by a material's properties.
 *
 * @param {import('three').Material} material
 * @return {import('three').Texture[]}
 */
function materialTextures( material ) {

	const textures = [];
	for ( const value of Object.values( material ) ) {

		if ( value && value.isTexture ) textures.push( value );

	}

	if ( material.uniforms ) {

		for ( const uniform of Object.values( material.uniforms ) ) {

			const value = uniform && uniform.value;
			if ( value && value.isTexture ) textures.push( value );

		}

	}

	return textures;

}

/**
 * Dispose every geometry, material, texture and skeleton under `root`, and call `dispose()` on
 * the objects that have one (they hold data of their own: instance matrices, splat textures).
 *
 * @param {import('three').Object3D|null|undefined} root
 * @param {{keep?: Set<import('three').Texture|import('three').Material>}} [options] - Textures
 *   and materials to leave alone (a shared environment map; a material kept for its compiled
 *   program). A kept material's textures are still disposed.
 * @return {{geometries: number, materials: number, textures: number}} What was disposed.
 */
function disposeObject( root, { keep } = {} ) {

	const counts = { geometries: 0, materials: 0, textures: 0 };
	if ( ! root ) return counts;

	const geometries = new Set();
	const materials = new Set();
	const textures = new Set();
	const skeletons = new Set();
	const owners = new Set();

	root.traverse( ( node ) => {

		if ( typeof node.dispose === 'function' ) owners.add( node );
		if ( node.geometry ) geometries.add( node.geometry );
		if ( node.material ) {

			for ( const material of Array.isArray( node.material ) ? node.material : [ node.material ] ) {

				if ( material ) materials.add( material );

			}

		}

		if ( node.skeleton ) skeletons.add( node.skeleton );

	} );

	for ( const material of materials ) {

		for ( const texture of materialTextures( material ) ) textures.add( texture );

	}

	for ( const geometry of geometries ) geometry.dispose();
	for ( const material of materials ) if ( ! ( keep && keep.has( material ) ) ) material.dispose();
	for ( const texture of textures ) {

		if ( keep && keep.has( texture ) ) continue;
		texture.dispose();
		const image = texture.source && texture.source.data;
		if ( image && typeof image.close === 'function' ) image.close();

	}

	for ( const skeleton of skeletons ) skeleton.dispose();
	for ( const owner of owners ) owner.dispose(); // Objects with data of their own (InstancedMesh, a splat asset).
	if ( root.parent ) root.parent.remove( root );

	counts.geometries = geometries.size;
	counts.materials = materials.size;
	counts.textures = textures.size;
	return counts;

}

export { disposeObject, materialTextures };
