/**
 * STL and PLY: single-geometry files without materials. A PLY whose header declares Gaussian
 * splat properties is a splat whatever the asset says: it goes to the registry's SPLAT_PLY
 * loader (never guessed by extension).
 */
import { Group, Mesh, MeshStandardMaterial, Points, PointsMaterial, SRGBColorSpace, TextureLoader } from 'three';
import { STLLoader } from 'three/addons/loaders/STLLoader.js';
import { PLYLoader } from 'three/addons/loaders/PLYLoader.js';
import { toCreasedNormals } from 'three/addons/utils/BufferGeometryUtils.js';

import { EmptySceneError, LoadError, Reason, UnsupportedFormatError } from '../errors.js';
import { displayName, headText } from './context.js';
import { UNTEXTURED_COLOR, isSplatPlyHeader } from './format-table.js';

/** Colour for formats without materials (STL, PLY): contrasts with light and dark backgrounds. */

/**
 * Three.js is Y-up; STL, 3MF and AMF are Z-up (3D printing): turn such a model upright.
 *
 * @param {import('three').Object3D} object
 * @return {Group}
 */
function zUpToYUp( object ) {

	const group = new Group();
	object.rotation.x = - Math.PI / 2;
	group.add( object );
	return group;

}

/**
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: import('three').Object3D}>}
 */
async function loadStl( context ) {

	const geometry = new STLLoader( context.manager ).parse( await context.fetchRoot() );
	if ( ! geometry.attributes.position || geometry.attributes.position.count === 0 ) {

		throw new EmptySceneError( `Nothing to draw: ${displayName( context.rootUrl )} has no triangles` );

	}

	if ( ! geometry.hasAttribute( 'normal' ) ) geometry.computeVertexNormals();
	const material = new MeshStandardMaterial( {
		color: geometry.hasColors ? 0xffffff : UNTEXTURED_COLOR,
		vertexColors: Boolean( geometry.hasColors ),
		roughness: 0.55,
		metalness: 0.1,
		opacity: geometry.alpha ?? 1,
		transparent: ( geometry.alpha ?? 1 ) < 1,
	} );
	return { object: zUpToYUp( new Mesh( geometry, material ) ) };

}

/**
 * The PLY header, or null when the file does not start with one.
 *
 * @param {ArrayBuffer} buffer
 * @return {string|null}
 */
function plyHeader( buffer ) {

	const head = headText( buffer, 65536 );
	if ( ! /^ply\r?\n/.test( head ) ) return null;
	const end = head.indexOf( 'end_header' );
	return end < 0 ? null : head.slice( 0, end );

}

/** Normals of a de-indexed PLY mesh are smoothed across edges flatter than this (radians). */
const PLY_CREASE_ANGLE = Math.PI / 4;

/**
 * Whether the parsed PLY holds triangles. Not `geometry.index`: with per-face texcoords or
 * colours PLYLoader returns the mesh de-indexed (three corners a face), and VCG scans such as
 * trimesh's fuze.ply would be drawn as dots. The header's face count says a mesh was meant.
 *
 * @param {string} header
 * @param {import('three').BufferGeometry} geometry
 * @return {boolean}
 */
function plyHasTriangles( header, geometry ) {

	if ( geometry.index !== null ) return geometry.index.count >= 3;
	const faces = /^element\s+face\s+(\d+)/m.exec( header );
	const corners = geometry.attributes.position.count;
	return Boolean( faces ) && Number( faces[ 1 ] ) > 0 && corners >= 3 && corners % 3 === 0;

}

/**
 * Smooth normals for a de-indexed mesh, kept sharp across creases. toCreasedNormals matches
 * corners on a grid of 0.01 units: the geometry is scaled up for it, so a 7 cm bottle's corners
 * are matched as closely as a building's.
 *
 * @param {import('three').BufferGeometry} geometry - Non-indexed; gets a `normal` attribute.
 */
function creasedNormals( geometry ) {

	geometry.computeBoundingSphere();
	const scale = 1e4 / ( geometry.boundingSphere.radius || 1 );
	geometry.scale( scale, scale, scale );
	toCreasedNormals( geometry, PLY_CREASE_ANGLE );
	geometry.scale( 1 / scale, 1 / scale, 1 / scale );

}

/**
 * The texture a PLY header names (`comment TextureFile <name>`, as VCG/MeshLab write), loaded
 * from the asset's files; null without one. One the asset lacks is refused by the context, so
 * the mesh draws untextured and the name is noted in `missing_textures`.
 *
 * @param {import('./context.js').LoadContext} context
 * @param {string} header
 * @return {Promise<import('three').Texture|null>}
 */
async function plyTexture( context, header ) {

	const named = /^comment\s+TextureFile\s+(.+?)\s*$/m.exec( header );
	if ( ! named ) return null;
	try {

		const texture = await new TextureLoader( context.manager ).setPath( context.resourcePath ).loadAsync( named[ 1 ] );
		texture.colorSpace = SRGBColorSpace;
		return texture;

	} catch {

		return null;

	}

}

/**
 * Vertex colours that are all white carry nothing (scanners write them when the colour lives
 * in a texture) and would draw the model white on a light background.
 *
 * @param {import('three').BufferAttribute} colors
 * @return {boolean}
 */
function allWhite( colors ) {

	for ( let i = 0; i < colors.count; i ++ ) {

		// getX/Y/Z undo normalisation (PLYLoader may keep colours as bytes).
		if ( colors.getX( i ) < 0.99 || colors.getY( i ) < 0.99 || colors.getZ( i ) < 0.99 ) return false;

	}

	return true;

}

/**
 * PLY: a splat (by its header), a mesh when it has faces, else a point cloud.
 *
 * @param {import('./context.js').LoadContext} context
 * @return {Promise<{object: import('three').Object3D}>}
 */
async function loadPly( context ) {

	const buffer = await context.fetchRoot();
	const header = plyHeader( buffer );
	if ( header === null ) throw new LoadError( `${displayName( context.rootUrl )} is not a PLY file (no PLY header)`, { reason: Reason.INVALID_FILE } );
	if ( isSplatPlyHeader( header ) ) {

		try {

			return await context.delegate( 'SPLAT_PLY' );

		} catch ( error ) {

			if ( error instanceof UnsupportedFormatError ) throw new UnsupportedFormatError( 'splat PLY' );
			throw error;

		}

	}

	if ( ! /^element\s+vertex\s+[1-9]/m.test( header ) ) {

		throw new EmptySceneError( `Nothing to draw: ${displayName( context.rootUrl )} has no vertices` );

	}

	const geometry = new PLYLoader( context.manager ).parse( buffer );
	const hasColors = geometry.hasAttribute( 'color' ) && ! allWhite( geometry.attributes.color );
	const group = new Group();
	if ( plyHasTriangles( header, geometry ) ) {

		if ( ! geometry.hasAttribute( 'normal' ) ) {

			if ( geometry.index === null ) creasedNormals( geometry );
			else geometry.computeVertexNormals();

		}

		const map = geometry.hasAttribute( 'uv' ) ? await plyTexture( context, header ) : null;
		group.add( new Mesh( geometry, new MeshStandardMaterial( {
			color: hasColors || map ? 0xffffff : UNTEXTURED_COLOR,
			vertexColors: hasColors,
			map,
			roughness: 0.6,
			metalness: 0.05,
		} ) ) );

	} else {

		geometry.computeBoundingSphere();
		const radius = geometry.boundingSphere ? geometry.boundingSphere.radius : 1;
		// About twice the mean spacing of points spread over the cloud's extent, so a sparse scan
		// still reads as a surface rather than as dust.
		const spacing = 4 * radius / Math.sqrt( Math.max( 1, geometry.attributes.position.count ) );
		group.add( new Points( geometry, new PointsMaterial( {
			color: hasColors ? 0xffffff : 0x30343a,
			vertexColors: hasColors,
			size: Math.max( radius / 150, spacing, 1e-6 ),
			sizeAttenuation: true,
			toneMapped: false, // Unlit scanned colours: tone mapping would wash them out.
		} ) ) );

	}

	return { object: group };

}

export { loadPly, loadStl, plyHeader, zUpToYUp };
