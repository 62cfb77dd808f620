/**
 * GLTFLoader plugin for Tilt Brush / Open Brush and Blocks glTF 2.0 files: materials with the
 * `GOOGLE_tilt_brush_material` extension ({guid}), brush-named materials (`brush_<Name>`,
 * `ob-<Name>`) and Blocks materials (BlocksBasic/BlocksPaper, BlocksGem, BlocksGlass) become
 * brush materials (brushes.js), so their textures on the dead tiltbrush.com host, or the brush
 * texture files the exporter never shipped, are never requested.
 *
 * The file's alpha mode and cutoff, roughness (Tilt Brush writes 1 - shininess) and double
 * sidedness are honoured; COLOR_0 is always used. It also applies the fetch policy to buffers
 * before anything is fetched: a buffer the asset does not list fails with `missing_resource`.
 */
import { createBrushMaterial, findBrush, isDeadHostUri, prepareBrushGeometry } from '../brushes.js';
import { displayName } from './context.js';

const EXTENSION = 'GOOGLE_tilt_brush_material';

/** Material names of Blocks exports (the upgrader writes them bare). */
const BLOCKS_MATERIALS = /^(BlocksBasic|BlocksPaper|BlocksGem|BlocksGlass)$/i;

/** Generators whose material names are brush names. */
const BRUSH_GENERATORS = /tilt brush|open brush|blocks/i;

class GLTFBrushMaterialsPlugin {

	/**
	 * @param {import('three/addons/loaders/GLTFLoader.js').GLTFParser} parser
	 * @param {import('./context.js').LoadContext} context
	 */
	constructor( parser, context ) {

		this.name = EXTENSION;
		this.parser = parser;
		this.context = context;
		this.sources = new Set();
		this.missingTextures = new Set();

	}

	/**
	 * The brush a material is, or undefined when it is an ordinary material (null: a brush
	 * material whose brush the catalog does not know; it gets the fallback).
	 */
	brushOf( materialIndex ) {

		const def = ( this.parser.json.materials || [] )[ materialIndex ] || {};
		const extension = def.extensions && def.extensions[ EXTENSION ];
		if ( extension ) return findBrush( extension.guid ) || findBrush( def.name );
		const name = String( def.name || '' );
		if ( BLOCKS_MATERIALS.test( name ) ) return findBrush( /paper/i.test( name ) ? 'BlocksBasic' : name );
		const generator = String( ( this.parser.json.asset && this.parser.json.asset.generator ) || '' );
		if ( /^(brush_|ob-)/i.test( name ) && ( BRUSH_GENERATORS.test( generator ) || findBrush( name ) ) ) return findBrush( name );
		return undefined;

	}

	loadMaterial( materialIndex ) {

		const brush = this.brushOf( materialIndex );
		if ( brush === undefined ) return null;
		const def = this.parser.json.materials[ materialIndex ];
		const pbr = def.pbrMetallicRoughness || {};
		const values = {};
		if ( def.alphaMode === 'MASK' ) values.Cutoff = def.alphaCutoff ?? 0.5;
		if ( typeof pbr.roughnessFactor === 'number' ) values.Shininess = 1 - pbr.roughnessFactor;
		if ( Array.isArray( pbr.baseColorFactor ) ) values.Color = pbr.baseColorFactor;
		return createBrushMaterial( brush, {
			values,
			alphaMode: def.alphaMode || 'OPAQUE',
			doubleSided: def.doubleSided,
			signal: this.context.signal,
		} ).then( ( { material, source } ) => {

			this.sources.add( source );
			return material;

		} );

	}

	/** Textures on the dead host are never fetched (brush materials do not ask for theirs). */
	loadTexture( textureIndex ) {

		const json = this.parser.json;
		const texture = ( json.textures || [] )[ textureIndex ] || {};
		const image = ( json.images || [] )[ texture.source ];
		if ( ! image || ! isDeadHostUri( image.uri ) ) return null;
		this.missingTextures.add( displayName( image.uri ) );
		return Promise.resolve( null );

	}

	afterRoot( result ) {

		for ( const scene of result.scenes || [ result.scene ] ) {

			scene.traverse( ( node ) => {

				if ( node.isMesh && node.material && node.material.isRawShaderMaterial && node.material.userData.brush ) prepareBrushGeometry( node.geometry );

			} );
			const notes = {};
			if ( this.sources.size ) notes.brushes = this.sources.has( 'fallback' ) ? 'fallback' : 'assets';
			if ( this.missingTextures.size ) notes.missing_textures = [ ...this.missingTextures ];
			if ( Object.keys( notes ).length ) {

				const thumbnail = scene.userData.thumbnail || {};
				scene.userData.thumbnail = { ...thumbnail, notes: { ...( thumbnail.notes || {} ), ...notes } };

			}

		}

		return null;

	}

}

/**
 * The plugin factory to pass to `GLTFLoader.register`.
 *
 * @param {import('./context.js').LoadContext} context
 * @return {function(Object): GLTFBrushMaterialsPlugin}
 */
function brushMaterialsPlugin( context ) {

	return ( parser ) => new GLTFBrushMaterialsPlugin( parser, context );

}

export { brushMaterialsPlugin, GLTFBrushMaterialsPlugin };
