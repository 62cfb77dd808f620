/**
 * STL and PLY: single-geometry files without materials. A PLY whose header declares Gaussian
 * splat properties is a splat whatever the asset says: it goes to the registry's SPLAT_PLY
 * loader (never guessed by extension).
 */
import { Group, Mesh, MeshStandardMaterial, Points, PointsMaterial } from 'three';
import { STLLoader } from 'three/addons/loaders/STLLoader.js';
import { PLYLoader } from 'three/addons/loaders/PLYLoader.js';

import { EmptySceneError, LoadError, Reason, UnsupportedFormatError } from '../errors.js';
import { displayName, headText } from './context.js';
import { isSplatPlyHeader } from './format-table.js';

/** Colour for formats without materials (STL, PLY): contrasts with light and dark backgrounds. */
const UNTEXTURED_COLOR = 0x8c95a5;

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
	if ( geometry.index !== null ) {

		if ( ! geometry.hasAttribute( 'normal' ) ) geometry.computeVertexNormals();
		group.add( new Mesh( geometry, new MeshStandardMaterial( {
			color: hasColors ? 0xffffff : UNTEXTURED_COLOR,
			vertexColors: hasColors,
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

export { UNTEXTURED_COLOR, loadPly, loadStl, plyHeader, zUpToYUp };
