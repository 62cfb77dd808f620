/**
 * glTF 1.0 (`.gltf` with `.bin`, embedded data URIs, or binary glTF 1.0 with KHR_binary_glTF),
 * written from the glTF 1.0 specification: three.js no longer ships a loader for it.
 *
 * The parser follows the specification's sections, each resolved once per id and cached
 * (buffers → bufferViews → accessors → meshes → nodes → scenes; images/samplers → textures;
 * techniques → programs → shaders → materials). Materials come from `KHR_materials_common`, or
 * from a technique: its GLSL (fetched through the LoadContext, so only the asset's listed
 * resources are read) runs as a RawShaderMaterial whose uniforms follow the technique's
 * parameters: values from the material, and semantics (MODEL, VIEW, PROJECTION, MODELVIEW,
 * MODELVIEWINVERSETRANSPOSE, ..., optionally of another node) computed for every draw.
 *
 * Tilt Brush exports are glTF 1.0 whose techniques point at brush shaders on the dead
 * www.tiltbrush.com host: those become brush materials (brushes.js) and the host is never
 * contacted. A buffer the asset does not list fails with `missing_resource`; a texture it does
 * not list is drawn without and named in `userData.thumbnail.notes.missing_textures`.
 */
import {
	BufferAttribute,
	BufferGeometry,
	ClampToEdgeWrapping,
	Color,
	DataTexture,
	DoubleSide,
	FrontSide,
	GLSL3,
	Group,
	InterleavedBuffer,
	InterleavedBufferAttribute,
	LineLoop,
	LineSegments,
	Line,
	LinearFilter,
	LinearMipmapLinearFilter,
	LinearMipmapNearestFilter,
	Matrix3,
	Matrix4,
	Mesh,
	MeshBasicMaterial,
	MeshLambertMaterial,
	MeshPhongMaterial,
	MeshStandardMaterial,
	MirroredRepeatWrapping,
	NearestFilter,
	NearestMipmapLinearFilter,
	NearestMipmapNearestFilter,
	Object3D,
	Points,
	PointsMaterial,
	Quaternion,
	RawShaderMaterial,
	RepeatWrapping,
	SRGBColorSpace,
	Texture,
	TriangleFanDrawMode,
	TriangleStripDrawMode,
	Vector2,
	Vector3,
	Vector4,
	AdditiveBlending,
	CustomBlending,
	NormalBlending,
	OneFactor,
	ZeroFactor,
	SrcAlphaFactor,
	OneMinusSrcAlphaFactor,
	DstAlphaFactor,
	OneMinusDstAlphaFactor,
	SrcColorFactor,
	OneMinusSrcColorFactor,
	DstColorFactor,
	OneMinusDstColorFactor,
	SrcAlphaSaturateFactor,
} from 'three';
import { toTrianglesDrawMode } from 'three/addons/utils/BufferGeometryUtils.js';

import { LoadError, Reason } from '../errors.js';
import { brushFromUri, createBrushMaterial, findBrush, isDeadHostUri, prepareBrushGeometry, rewriteBrushUri } from '../brushes.js';

const _textDecoder = new TextDecoder();

/** WebGL constants the specification uses. */
const GL = {
	BYTE: 5120, UNSIGNED_BYTE: 5121, SHORT: 5122, UNSIGNED_SHORT: 5123, UNSIGNED_INT: 5125, FLOAT: 5126,
	FLOAT_VEC2: 35664, FLOAT_VEC3: 35665, FLOAT_VEC4: 35666, INT: 5124, BOOL: 35670,
	FLOAT_MAT2: 35674, FLOAT_MAT3: 35675, FLOAT_MAT4: 35676, SAMPLER_2D: 35678,
	BLEND: 3042, CULL_FACE: 2884, DEPTH_TEST: 2929,
};

const COMPONENT_ARRAYS = {
	5120: Int8Array, 5121: Uint8Array, 5122: Int16Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array,
};

const ITEM_SIZES = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4, MAT2: 4, MAT3: 9, MAT4: 16 };

/** Attribute semantics → three.js attribute names (also what framing and fallbacks read). */
const ATTRIBUTE_NAMES = {
	POSITION: 'position', NORMAL: 'normal', TEXCOORD_0: 'uv', TEXCOORD_1: 'uv1', COLOR: 'color', COLOR_0: 'color',
	TANGENT: 'tangent', JOINT: 'skinIndex', WEIGHT: 'skinWeight',
};

const WRAPPINGS = { 33071: ClampToEdgeWrapping, 33648: MirroredRepeatWrapping, 10497: RepeatWrapping };
const FILTERS = {
	9728: NearestFilter, 9729: LinearFilter, 9984: NearestMipmapNearestFilter, 9985: LinearMipmapNearestFilter,
	9986: NearestMipmapLinearFilter, 9987: LinearMipmapLinearFilter,
};

const BLEND_FACTORS = {
	0: ZeroFactor, 1: OneFactor, 768: SrcColorFactor, 769: OneMinusSrcColorFactor, 770: SrcAlphaFactor,
	771: OneMinusSrcAlphaFactor, 772: DstAlphaFactor, 773: OneMinusDstAlphaFactor, 774: DstColorFactor,
	775: OneMinusDstColorFactor, 776: SrcAlphaSaturateFactor,
};

const _matrix = new Matrix4();
const _matrix3 = new Matrix3();

/**
 * Whether a parsed glTF JSON is version 1.x: `asset.version` starts with "1" (Tilt Brush writes
 * "1.1"), or `buffers` is an object keyed by id rather than an array.
 *
 * @param {Object} json
 * @return {boolean}
 */
function isGltf1Json( json ) {

	if ( ! json || typeof json !== 'object' ) return false;
	const version = json.asset && json.asset.version !== undefined ? String( json.asset.version ) : '';
	if ( version ) return version.startsWith( '1' );
	return Boolean( json.buffers ) && ! Array.isArray( json.buffers );

}

/**
 * Whether a file's bytes are glTF 1.0: binary glTF with container version 1, or JSON that
 * {@link isGltf1Json} accepts.
 *
 * @param {ArrayBuffer} data
 * @return {boolean}
 */
function isGltf1( data ) {

	return parseContainer( data, { quiet: true } ) !== null;

}

/**
 * The JSON and binary body of a glTF 1.0 file, or null (with `quiet`) when it is not one.
 */
function parseContainer( data, { quiet = false } = {} ) {

	const bytes = new Uint8Array( data );
	if ( bytes.length >= 20 && String.fromCharCode( ...bytes.subarray( 0, 4 ) ) === 'glTF' ) {

		const view = new DataView( data );
		if ( view.getUint32( 4, true ) !== 1 ) return null; // binary glTF 2.0: GLTFLoader's
		const contentLength = view.getUint32( 12, true );
		if ( view.getUint32( 16, true ) !== 0 || 20 + contentLength > bytes.length ) {

			if ( quiet ) return null;
			throw new LoadError( 'The binary glTF 1.0 header is damaged', { reason: Reason.INVALID_FILE } );

		}

		const json = parseJson( bytes.subarray( 20, 20 + contentLength ), quiet );
		return json ? { json, body: data.slice( 20 + contentLength ) } : null;

	}

	const head = _textDecoder.decode( bytes.subarray( 0, Math.min( 64, bytes.length ) ) ).replace( /^\uFEFF/, '' ).trimStart();
	if ( head[ 0 ] !== '{' ) return null;
	const json = parseJson( bytes, quiet );
	return json && isGltf1Json( json ) ? { json, body: null } : null;

}

function parseJson( bytes, quiet ) {

	try {

		return JSON.parse( _textDecoder.decode( bytes ).replace( /^\uFEFF/, '' ) );

	} catch ( error ) {

		if ( quiet ) return null;
		throw new LoadError( `The glTF JSON is not valid: ${error.message}`, { reason: Reason.INVALID_FILE, cause: error } );

	}

}

/**
 * Load a glTF 1.0 asset.
 *
 * @param {import('../loaders.js').LoadContext} context
 * @param {ArrayBuffer} [data] - The root file when the caller has already fetched it.
 * @return {Promise<{object: import('three').Object3D, animations: Array}>}
 */
async function loadGltf1( context, data ) {

	const root = data || await context.fetchRoot();
	const container = parseContainer( root );
	if ( ! container ) throw new LoadError( 'The file is not glTF 1.0', { reason: Reason.INVALID_FILE } );
	const parser = new GLTF1Parser( container.json, context, container.body );
	const object = await parser.parse();
	return { object, animations: [] };

}

class GLTF1Parser {

	/**
	 * @param {Object} json
	 * @param {import('../loaders.js').LoadContext} context
	 * @param {ArrayBuffer|null} body - Binary glTF body (the `binary_glTF` buffer).
	 */
	constructor( json, context, body ) {

		this.json = json;
		this.context = context;
		this.body = body;
		this.cache = new Map();
		this.nodeObjects = new Map();
		this.notes = { missingTextures: new Set(), brushes: new Set() };

	}

	/** Resolve one object of a section once, by id. */
	getDependency( type, id ) {

		const key = `${type}:${id}`;
		if ( ! this.cache.has( key ) ) {

			const section = this.json[ SECTIONS[ type ] ];
			if ( ! section || section[ id ] === undefined ) {

				throw new LoadError( `The glTF file refers to a missing ${type} "${id}"`, { reason: Reason.INVALID_FILE } );

			}

			const promise = this[ `load${type}` ]( id, section[ id ] );
			promise.catch( () => {} ); // awaited by every user; an unobserved rejection is not a second error
			this.cache.set( key, promise );

		}

		return this.cache.get( key );

	}

	async parse() {

		const scenes = this.json.scenes || {};
		const sceneId = this.json.scene !== undefined && scenes[ this.json.scene ] ? this.json.scene : Object.keys( scenes )[ 0 ];
		let object;
		if ( sceneId !== undefined ) {

			object = await this.getDependency( 'Scene', sceneId );

		} else {

			// No scene: every root node (a node nobody lists as a child).
			object = new Group();
			const children = new Set( Object.values( this.json.nodes || {} ).flatMap( ( node ) => node.children || [] ) );
			const roots = Object.keys( this.json.nodes || {} ).filter( ( id ) => ! children.has( id ) );
			for ( const node of await Promise.all( roots.map( ( id ) => this.getDependency( 'Node', id ) ) ) ) object.add( node );

		}

		const notes = {};
		if ( this.notes.brushes.size ) notes.brushes = this.notes.brushes.has( 'fallback' ) ? 'fallback' : 'assets';
		if ( this.notes.missingTextures.size ) notes.missing_textures = [ ...this.notes.missingTextures ];
		object.userData.thumbnail = { ...( object.userData.thumbnail || {} ), notes };
		return object;

	}

	// -- buffers, bufferViews, accessors ------------------------------------------------------

	async loadBuffer( id, def ) {

		if ( id === 'binary_glTF' && this.body ) return this.body;
		const uri = def.uri;
		if ( ! uri ) throw new LoadError( `Buffer "${id}" has no uri`, { reason: Reason.INVALID_FILE } );
		if ( /^data:/i.test( uri ) ) return this.context.fetchBuffer( uri );
		if ( ! this.context.findResource( uri ) ) {

			throw new LoadError( `Missing buffer ${displayName( uri )}: it is not one of the asset's files`, { reason: Reason.MISSING_RESOURCE } );

		}

		return this.context.fetchBuffer( new URL( uri, this.context.resourcePath ).href );

	}

	async loadBufferView( id, def ) {

		const buffer = await this.getDependency( 'Buffer', def.buffer );
		const offset = def.byteOffset || 0;
		const length = def.byteLength !== undefined ? def.byteLength : buffer.byteLength - offset;
		if ( offset + length > buffer.byteLength ) {

			throw new LoadError( `Buffer view "${id}" reaches past the end of its buffer (the .bin is truncated)`, { reason: Reason.INVALID_FILE } );

		}

		return buffer.slice( offset, offset + length );

	}

	async loadAccessor( id, def ) {

		const view = await this.getDependency( 'BufferView', def.bufferView );
		const TypedArray = COMPONENT_ARRAYS[ def.componentType ];
		const itemSize = ITEM_SIZES[ def.type ];
		if ( ! TypedArray || ! itemSize ) throw new LoadError( `Accessor "${id}" has an unknown type`, { reason: Reason.INVALID_FILE } );
		const componentBytes = TypedArray.BYTES_PER_ELEMENT;
		const elementBytes = componentBytes * itemSize;
		const stride = def.byteStride || elementBytes;
		const offset = def.byteOffset || 0;
		const count = def.count || 0;
		if ( count > 0 && offset + ( count - 1 ) * stride + elementBytes > view.byteLength ) {

			throw new LoadError( `Accessor "${id}" reaches past the end of its buffer view`, { reason: Reason.INVALID_FILE } );

		}

		if ( stride !== elementBytes ) {

			const start = offset - ( offset % stride );
			const length = Math.floor( Math.min( view.byteLength - start, count * stride ) / componentBytes );
			const array = new TypedArray( view, start, length );
			const interleaved = new InterleavedBuffer( array, stride / componentBytes );
			return new InterleavedBufferAttribute( interleaved, itemSize, ( offset % stride ) / componentBytes );

		}

		const array = offset % componentBytes === 0
			? new TypedArray( view, offset, count * itemSize )
			: new TypedArray( view.slice( offset, offset + count * elementBytes ) );
		return new BufferAttribute( array, itemSize );

	}

	// -- meshes, nodes, scenes ----------------------------------------------------------------

	async loadMesh( id, def ) {

		const group = new Group();
		group.name = def.name || id;
		for ( const primitive of def.primitives || [] ) group.add( await this.loadPrimitive( primitive ) );
		return group;

	}

	async loadPrimitive( primitive ) {

		const geometry = new BufferGeometry();
		const semantics = {};
		for ( const [ semantic, accessorId ] of Object.entries( primitive.attributes || {} ) ) {

			const attribute = ( await this.getDependency( 'Accessor', accessorId ) ).clone();
			const name = ATTRIBUTE_NAMES[ semantic ] || semantic.toLowerCase();
			if ( /^(COLOR|TEXCOORD)/.test( semantic ) && ! ( attribute.array instanceof Float32Array ) ) attribute.normalized = true;
			geometry.setAttribute( name, attribute );
			semantics[ semantic ] = attribute;

		}

		if ( primitive.indices !== undefined ) {

			const index = await this.getDependency( 'Accessor', primitive.indices );
			geometry.setIndex( index.isInterleavedBufferAttribute ? new BufferAttribute( Uint32Array.from( { length: index.count }, ( _, i ) => index.getX( i ) ), 1 ) : index );

		}

		const mode = primitive.mode === undefined ? 4 : primitive.mode;
		const material = primitive.material !== undefined
			? await this.getDependency( 'Material', primitive.material )
			: { material: new MeshStandardMaterial( { color: 0x8c95a5 } ) };

		if ( material.attributes ) {

			// Technique shaders read their own attribute names.
			for ( const [ glsl, semantic ] of Object.entries( material.attributes ) ) {

				if ( semantics[ semantic ] ) geometry.setAttribute( glsl, semantics[ semantic ] );

			}

		}

		if ( material.brush ) prepareBrushGeometry( geometry );

		let object;
		if ( mode === 0 ) {

			object = new Points( geometry, new PointsMaterial( { size: 1, sizeAttenuation: false, vertexColors: Boolean( geometry.getAttribute( 'color' ) ) } ) );

		} else if ( mode === 1 || mode === 2 || mode === 3 ) {

			const Type = mode === 1 ? LineSegments : mode === 2 ? LineLoop : Line;
			object = new Type( geometry, material.material );

		} else {

			const triangles = mode === 5 ? toTrianglesDrawMode( geometry, TriangleStripDrawMode )
				: mode === 6 ? toTrianglesDrawMode( geometry, TriangleFanDrawMode ) : geometry;
			object = new Mesh( triangles, material.material );

		}

		return object;

	}

	async loadNode( id, def ) {

		const node = new Object3D();
		node.name = def.name || id;
		this.nodeObjects.set( id, node );
		if ( def.matrix ) {

			_matrix.fromArray( def.matrix ).decompose( node.position, node.quaternion, node.scale );

		} else {

			if ( def.translation ) node.position.fromArray( def.translation );
			if ( def.rotation ) node.quaternion.copy( new Quaternion().fromArray( def.rotation ) );
			if ( def.scale ) node.scale.fromArray( def.scale );

		}

		const meshIds = def.meshes || ( def.mesh !== undefined ? [ def.mesh ] : [] );
		for ( const mesh of await Promise.all( meshIds.map( ( meshId ) => this.getDependency( 'Mesh', meshId ) ) ) ) {

			// A mesh used by several nodes is one Group; each node gets its own copy of the tree.
			node.add( mesh.parent ? mesh.clone() : mesh );

		}

		for ( const child of await Promise.all( ( def.children || [] ).map( ( childId ) => this.getDependency( 'Node', childId ) ) ) ) {

			node.add( child.parent ? child.clone() : child );

		}

		return node;

	}

	async loadScene( id, def ) {

		const scene = new Group();
		scene.name = def.name || id;
		for ( const node of await Promise.all( ( def.nodes || [] ).map( ( nodeId ) => this.getDependency( 'Node', nodeId ) ) ) ) {

			scene.add( node.parent ? node.clone() : node );

		}

		return scene;

	}

	// -- images, samplers, textures -----------------------------------------------------------

	/** An image as an ImageBitmap, or null when the asset does not have it (drawn without). */
	async loadImage( id, def ) {

		let uri = def.uri;
		if ( ! uri && def.extensions && def.extensions.KHR_binary_glTF ) {

			const ext = def.extensions.KHR_binary_glTF;
			const view = await this.getDependency( 'BufferView', ext.bufferView );
			return createImageBitmap( new Blob( [ view ], { type: ext.mimeType || 'image/png' } ), { imageOrientation: 'none', premultiplyAlpha: 'none', colorSpaceConversion: 'none' } );

		}

		if ( ! uri ) return null;
		let url = null;
		if ( /^data:/i.test( uri ) ) url = uri;
		else if ( isDeadHostUri( uri ) || brushFromUri( uri ) ) url = rewriteBrushUri( uri );
		else if ( this.context.findResource( uri ) ) url = new URL( uri, this.context.resourcePath ).href;
		if ( ! url ) {

			this.notes.missingTextures.add( displayName( uri ) );
			return null;

		}

		try {

			const data = await this.context.fetchBuffer( url );
			return await createImageBitmap( new Blob( [ data ] ), { imageOrientation: 'none', premultiplyAlpha: 'none', colorSpaceConversion: 'none' } );

		} catch ( error ) {

			if ( this.context.signal.aborted ) throw error;
			this.notes.missingTextures.add( displayName( uri ) );
			return null;

		}

	}

	async loadTexture( id, def ) {

		const image = await this.getDependency( 'Image', def.source );
		if ( ! image ) return null;
		const texture = new Texture( image );
		texture.name = id;
		texture.flipY = false; // glTF's texture coordinates start at the image's top-left
		const sampler = def.sampler !== undefined && this.json.samplers ? this.json.samplers[ def.sampler ] || {} : {};
		texture.magFilter = FILTERS[ sampler.magFilter ] || LinearFilter;
		texture.minFilter = FILTERS[ sampler.minFilter ] || LinearMipmapLinearFilter;
		texture.wrapS = WRAPPINGS[ sampler.wrapS ] || RepeatWrapping;
		texture.wrapT = WRAPPINGS[ sampler.wrapT ] || RepeatWrapping;
		texture.needsUpdate = true;
		return texture;

	}

	// -- techniques, programs, shaders, materials ---------------------------------------------

	async loadShader( id, def ) {

		const uri = def.uri;
		if ( ! uri ) {

			const ext = def.extensions && def.extensions.KHR_binary_glTF;
			if ( ext ) return _textDecoder.decode( await this.getDependency( 'BufferView', ext.bufferView ) );
			return null;

		}

		if ( isDeadHostUri( uri ) ) return null; // never fetched; brush shaders come from brushes.js
		if ( ! /^data:/i.test( uri ) && ! this.context.findResource( uri ) ) return null;
		try {

			return _textDecoder.decode( await this.context.fetchBuffer( /^data:/i.test( uri ) ? uri : new URL( uri, this.context.resourcePath ).href ) );

		} catch ( error ) {

			if ( this.context.signal.aborted ) throw error;
			return null;

		}

	}

	/** The brush a technique's shaders name (dead-host URLs), if any. */
	brushOfTechnique( technique ) {

		const program = technique && this.json.programs && this.json.programs[ technique.program ];
		if ( ! program ) return null;
		for ( const shaderId of [ program.vertexShader, program.fragmentShader ] ) {

			const shader = this.json.shaders && this.json.shaders[ shaderId ];
			const brush = shader && brushFromUri( shader.uri );
			if ( brush ) return brush;

		}

		return null;

	}

	/**
	 * @return {Promise<{material: import('three').Material, attributes?: Object<string, string>,
	 *   brush?: boolean}>}
	 */
	async loadMaterial( id, def ) {

		const common = def.extensions && def.extensions.KHR_materials_common;
		if ( common ) return { material: await this.commonMaterial( def, common ) };

		const technique = def.technique !== undefined && this.json.techniques ? this.json.techniques[ def.technique ] : null;
		const values = { ...( def.values || {} ) };
		const brush = this.brushOfTechnique( technique ) || ( technique && /tilt brush/i.test( this.generator() ) ? findBrush( def.name || id ) : null );
		const deadShaders = technique && this.techniqueShaderUris( technique ).some( isDeadHostUri );
		if ( brush || deadShaders ) return this.brushMaterial( brush, technique, values );
		if ( ! technique ) return { material: this.defaultMaterial( values ) };
		return this.techniqueMaterial( id, def, technique, values );

	}

	generator() {

		return String( ( this.json.asset && this.json.asset.generator ) || '' );

	}

	techniqueShaderUris( technique ) {

		const program = this.json.programs && this.json.programs[ technique.program ];
		if ( ! program ) return [];
		return [ program.vertexShader, program.fragmentShader ].map( ( shaderId ) => ( this.json.shaders && this.json.shaders[ shaderId ] || {} ).uri || '' );

	}

	async brushMaterial( brush, technique, values ) {

		// The file's values (light colours, shininess, cutoff, ...) by GLSL uniform name.
		const named = {};
		const parameters = ( technique && technique.parameters ) || {};
		for ( const [ glsl, parameterName ] of Object.entries( ( technique && technique.uniforms ) || {} ) ) {

			const parameter = parameters[ parameterName ] || {};
			const value = values[ parameterName ] !== undefined ? values[ parameterName ] : parameter.value;
			if ( parameter.semantic || value === undefined || typeof value === 'string' ) continue;
			named[ glsl.replace( /^u_/, '' ) ] = value;

		}

		const blended = technique && technique.states && ( technique.states.enable || [] ).includes( GL.BLEND );
		const { material, source } = await createBrushMaterial( brush, {
			values: named,
			alphaMode: blended ? 'BLEND' : undefined,
			signal: this.context.signal,
		} );
		this.notes.brushes.add( source );
		return { material, brush: true };

	}

	defaultMaterial( values ) {

		// The specification's default material: emissive 50% grey; drawn lit so it has shape.
		const diffuse = Array.isArray( values.diffuse ) ? values.diffuse : [ 0.5, 0.5, 0.5, 1 ];
		return new MeshStandardMaterial( { color: new Color().fromArray( diffuse ), roughness: 0.7, metalness: 0 } );

	}

	async commonMaterial( def, common ) {

		const values = common.values || {};
		const type = String( common.technique || 'BLINN' ).toUpperCase();
		const Material = type === 'CONSTANT' ? MeshBasicMaterial : type === 'LAMBERT' ? MeshLambertMaterial : MeshPhongMaterial;
		const params = { name: def.name || '', side: common.doubleSided ? DoubleSide : FrontSide };
		const colorKey = type === 'CONSTANT' ? 'emission' : 'diffuse';
		const diffuse = values[ colorKey ] !== undefined ? values[ colorKey ] : values.diffuse;
		if ( typeof diffuse === 'string' ) {

			const texture = await this.getDependency( 'Texture', diffuse );
			if ( texture ) {

				texture.colorSpace = SRGBColorSpace;
				params.map = texture;

			}

		} else if ( Array.isArray( diffuse ) ) {

			params.color = new Color().fromArray( diffuse );
			if ( diffuse[ 3 ] !== undefined && diffuse[ 3 ] < 1 ) params.opacity = diffuse[ 3 ];

		}

		if ( type !== 'CONSTANT' && Array.isArray( values.emission ) ) params.emissive = new Color().fromArray( values.emission );
		if ( Material === MeshPhongMaterial ) {

			if ( Array.isArray( values.specular ) ) params.specular = new Color().fromArray( values.specular );
			if ( typeof values.shininess === 'number' ) params.shininess = values.shininess;

		}

		const transparency = typeof values.transparency === 'number' ? values.transparency : 1;
		if ( common.transparent || transparency < 1 || params.opacity !== undefined ) {

			params.transparent = true;
			params.opacity = ( params.opacity ?? 1 ) * transparency;

		}

		return new Material( params );

	}

	async techniqueMaterial( id, def, technique, values ) {

		const program = this.json.programs && this.json.programs[ technique.program ];
		const [ vertex, fragment ] = program
			? await Promise.all( [ this.getDependency( 'Shader', program.vertexShader ), this.getDependency( 'Shader', program.fragmentShader ) ] )
			: [ null, null ];
		const parameters = technique.parameters || {};
		if ( ! vertex || ! fragment ) return { material: await this.valuesMaterial( def, technique, values ) };

		const uniforms = {};
		const dynamic = [];
		for ( const [ glsl, parameterName ] of Object.entries( technique.uniforms || {} ) ) {

			const parameter = parameters[ parameterName ] || {};
			if ( parameter.semantic ) {

				uniforms[ glsl ] = { value: parameter.type === GL.FLOAT_MAT3 ? new Matrix3() : parameter.type === GL.FLOAT_VEC4 ? new Vector4() : new Matrix4() };
				dynamic.push( { uniform: uniforms[ glsl ], semantic: parameter.semantic, node: parameter.node } );
				continue;

			}

			const value = values[ parameterName ] !== undefined ? values[ parameterName ] : parameter.value;
			if ( parameter.type === GL.SAMPLER_2D ) {

				const texture = value !== undefined ? await this.getDependency( 'Texture', value ) : null;
				uniforms[ glsl ] = { value: texture || whiteTexture() };
				continue;

			}

			uniforms[ glsl ] = { value: parameterValue( parameter.type, value ) };

		}

		const attributes = {};
		for ( const [ glsl, parameterName ] of Object.entries( technique.attributes || {} ) ) {

			const semantic = parameters[ parameterName ] && parameters[ parameterName ].semantic;
			if ( semantic ) attributes[ glsl ] = semantic;

		}

		const glsl3 = /^\s*#version\s+300\s+es/m.test( vertex );
		const material = new RawShaderMaterial( {
			name: def.name || id,
			vertexShader: glsl3 ? vertex.replace( /^\s*#version[^\n]*\n/m, '' ) : vertex,
			fragmentShader: glsl3 ? fragment.replace( /^\s*#version[^\n]*\n/m, '' ) : fragment,
			glslVersion: glsl3 ? GLSL3 : null,
			uniforms,
		} );
		applyStates( material, technique.states || {} );

		const nodes = this.nodeObjects;
		if ( dynamic.length ) material.onBeforeRender = function ( renderer, scene, camera, geometry, object ) {

			for ( const { uniform, semantic, node } of dynamic ) {

				semanticValue( semantic, node !== undefined && nodes.get( node ) ? nodes.get( node ) : object, camera, renderer, uniform.value );

			}

			this.uniformsNeedUpdate = true; // one material may draw several nodes in a row

		};

		return { material, attributes };

	}

	/** A technique whose shaders are missing: its values as a lit material. */
	async valuesMaterial( def, technique, values ) {

		const parameters = technique.parameters || {};
		const diffuse = values.diffuse !== undefined ? values.diffuse : parameters.diffuse && parameters.diffuse.value;
		const params = { name: def.name || '', roughness: 0.7, metalness: 0, side: ( technique.states && ( technique.states.enable || [] ).includes( GL.CULL_FACE ) ) ? FrontSide : DoubleSide };
		if ( typeof diffuse === 'string' ) {

			const texture = await this.getDependency( 'Texture', diffuse );
			if ( texture ) {

				texture.colorSpace = SRGBColorSpace;
				params.map = texture;

			}

		} else if ( Array.isArray( diffuse ) ) {

			params.color = new Color().fromArray( diffuse );

		}

		return new MeshStandardMaterial( params );

	}

}

/** Section name in the JSON for each dependency type. */
const SECTIONS = {
	Buffer: 'buffers', BufferView: 'bufferViews', Accessor: 'accessors', Mesh: 'meshes', Node: 'nodes', Scene: 'scenes',
	Image: 'images', Texture: 'textures', Shader: 'shaders', Material: 'materials',
};

/** Technique `states`: culling, blending and depth writes. */
function applyStates( material, states ) {

	const enable = states.enable || [];
	const functions = states.functions || {};
	material.side = enable.includes( GL.CULL_FACE ) ? ( functions.cullFace && functions.cullFace[ 0 ] === 1028 ? 1 : FrontSide ) : DoubleSide;
	material.depthTest = enable.includes( GL.DEPTH_TEST ) || enable.length === 0;
	if ( functions.depthMask ) material.depthWrite = Boolean( functions.depthMask[ 0 ] );
	if ( enable.includes( GL.BLEND ) ) {

		material.transparent = true;
		const factors = functions.blendFuncSeparate || ( functions.blendFunc ? [ ...functions.blendFunc, ...functions.blendFunc ] : null );
		if ( factors && factors[ 0 ] === 1 && factors[ 1 ] === 1 ) {

			material.blending = AdditiveBlending;

		} else if ( factors ) {

			material.blending = CustomBlending;
			material.blendSrc = BLEND_FACTORS[ factors[ 0 ] ] ?? OneFactor;
			material.blendDst = BLEND_FACTORS[ factors[ 1 ] ] ?? ZeroFactor;
			material.blendSrcAlpha = BLEND_FACTORS[ factors[ 2 ] ] ?? material.blendSrc;
			material.blendDstAlpha = BLEND_FACTORS[ factors[ 3 ] ] ?? material.blendDst;

		} else {

			material.blending = NormalBlending;

		}

	}

}

/**
 * Write a uniform semantic's value for one draw into `out`.
 *
 * @param {string} semantic
 * @param {import('three').Object3D} object - The node the value is for.
 * @param {import('three').Camera} camera
 * @param {import('three').WebGLRenderer} renderer
 * @param {Matrix4|Matrix3|Vector4} out
 */
function semanticValue( semantic, object, camera, renderer, out ) {

	const model = object.matrixWorld;
	const view = camera.matrixWorldInverse;
	const projection = camera.projectionMatrix;
	let matrix;
	switch ( semantic ) {

		case 'LOCAL': matrix = _matrix.copy( object.matrix ); break;
		case 'MODEL': matrix = _matrix.copy( model ); break;
		case 'VIEW': matrix = _matrix.copy( view ); break;
		case 'PROJECTION': matrix = _matrix.copy( projection ); break;
		case 'MODELVIEW': matrix = _matrix.multiplyMatrices( view, model ); break;
		case 'MODELVIEWPROJECTION': matrix = _matrix.multiplyMatrices( view, model ).premultiply( projection ); break;
		case 'MODELINVERSE': matrix = _matrix.copy( model ).invert(); break;
		case 'VIEWINVERSE': matrix = _matrix.copy( camera.matrixWorld ); break;
		case 'PROJECTIONINVERSE': matrix = _matrix.copy( camera.projectionMatrixInverse ); break;
		case 'MODELVIEWINVERSE': matrix = _matrix.multiplyMatrices( view, model ).invert(); break;
		case 'MODELVIEWPROJECTIONINVERSE': matrix = _matrix.multiplyMatrices( view, model ).premultiply( projection ).invert(); break;
		case 'MODELINVERSETRANSPOSE': matrix = _matrix.copy( model ).invert().transpose(); break;
		case 'MODELVIEWINVERSETRANSPOSE': matrix = _matrix.multiplyMatrices( view, model ).invert().transpose(); break;
		case 'VIEWPORT': {

			const size = renderer.getDrawingBufferSize( new Vector2() );
			if ( out.isVector4 ) out.set( 0, 0, size.x, size.y );
			return;

		}

		default: matrix = _matrix.identity();

	}

	if ( out.isMatrix3 ) out.copy( _matrix3.setFromMatrix4( matrix ) );
	else if ( out.isMatrix4 ) out.copy( matrix );

}

/** A technique parameter's value as the three.js uniform type. */
function parameterValue( type, value ) {

	const list = value === undefined || value === null ? [] : ( Array.isArray( value ) ? value : [ value ] ).map( Number );
	switch ( type ) {

		case GL.FLOAT_VEC2: return new Vector2().fromArray( padded( list, 2 ) );
		case GL.FLOAT_VEC3: return new Vector3().fromArray( padded( list, 3 ) );
		case GL.FLOAT_VEC4: return new Vector4().fromArray( padded( list, 4 ) );
		case GL.FLOAT_MAT3: return list.length === 9 ? new Matrix3().fromArray( list ) : new Matrix3();
		case GL.FLOAT_MAT4: return list.length === 16 ? new Matrix4().fromArray( list ) : new Matrix4();
		case GL.BOOL: return Boolean( list[ 0 ] );
		default: return list.length ? list[ 0 ] : 0;

	}

}

function padded( list, length ) {

	return Array.from( { length }, ( _, i ) => list[ i ] ?? 0 );

}

function whiteTexture() {

	const texture = new DataTexture( new Uint8Array( [ 255, 255, 255, 255 ] ), 1, 1 );
	texture.needsUpdate = true;
	return texture;

}

function displayName( uri ) {

	if ( /^data:/i.test( uri ) ) return 'an embedded data URI';
	const name = String( uri ).split( /[?#]/ )[ 0 ].split( /[\\/]/ ).pop();
	try {

		return decodeURIComponent( name );

	} catch {

		return name;

	}

}

export { loadGltf1, isGltf1, isGltf1Json, GLTF1Parser };
