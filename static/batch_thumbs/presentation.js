/**
 * The gallery's presentation params that change the model itself, applied before framing:
 * `orientingRotation` (a quaternion that stands the model upright), `upAxis` ("Y" or "Z", for
 * formats whose files do not say which way is up) and `colorSpace` ("LINEAR" or "GAMMA").
 * Background and camera are read by the pipeline and framing.
 *
 * The loaded model is put under one orientation group, so turning it in review (90° steps)
 * changes that group only, and the rotation to save is that group's part set by the gallery.
 */
import { Group, Quaternion, Vector3 } from 'three';

import { framingPoints } from './framing.js';

/** The rotation that stands a Z-up model upright in three.js's Y-up world. */
const Z_UP_TO_Y_UP = new Quaternion().setFromAxisAngle( new Vector3( 1, 0, 0 ), - Math.PI / 2 );

/** One review "Turn": the model tips forward by 90°, so one turn stands a Z-up model upright. */
const TURN = Z_UP_TO_Y_UP.clone();

const _config = { upAxis: {} };
const _point = new Vector3();

/**
 * @param {{upAxis?: Object<string, string>}} config - The page config's `upAxis`: the default
 *   up axis per format type (the formats an asset's `upAxis` may change).
 */
function configurePresentation( { upAxis } = {} ) {

	_config.upAxis = {};
	for ( const [ type, axis ] of Object.entries( upAxis || {} ) ) _config.upAxis[ String( type ).toUpperCase() ] = String( axis ).toUpperCase();

}

/**
 * The asset's `orientingRotation` as a normalised quaternion, or null when absent or unusable.
 *
 * @param {Object} [params] - The asset's presentation params.
 * @return {Quaternion|null}
 */
function orientingRotation( params ) {

	const value = params && params.orientingRotation;
	if ( ! value || typeof value !== 'object' ) return null;
	const parts = [ value.x, value.y, value.z, value.w ].map( Number );
	if ( ! parts.every( Number.isFinite ) ) return null;
	const quaternion = new Quaternion( ...parts );
	if ( quaternion.length() < 1e-6 ) return null;
	return quaternion.normalize();

}

/**
 * The up axis that decides for this format, or null when the format is not one that has it
 * (STL, 3MF and AMF are Z-up by specification and turned upright by their loaders).
 *
 * @param {string} formatType
 * @param {Object} [params] - The asset's presentation params (`upAxis` wins over the default).
 * @return {'Y'|'Z'|null}
 */
function upAxisOf( formatType, params ) {

	const fallback = _config.upAxis[ String( formatType || '' ).toUpperCase() ];
	if ( ! fallback ) return null;
	const own = params && typeof params.upAxis === 'string' ? params.upAxis.trim().toUpperCase() : '';
	if ( own === 'Y' || own === 'Z' ) return own;
	return fallback === 'Z' ? 'Z' : 'Y';

}

/**
 * Put the model under a group turned by the asset's orientation (orientingRotation after the
 * up-axis conversion).
 *
 * @param {import('three').Object3D} model
 * @param {Object} asset
 * @param {string} formatType - The format that loaded.
 * @return {Group} The root to add to the scene; `userData.orientation` says what was applied.
 */
function orientModel( model, asset, formatType ) {

	const params = ( asset && asset.presentation_params ) || {};
	const gallery = orientingRotation( params );
	const upAxis = upAxisOf( formatType, params );
	const root = new Group();
	root.name = 'orientation';
	root.add( model );
	const rotation = gallery ? gallery.clone() : new Quaternion();
	root.userData.orientation = { rotation, upAxis, fromGallery: Boolean( gallery ), turns: 0 };
	applyRotation( root );
	return root;

}

function applyRotation( root ) {

	const { rotation, upAxis } = root.userData.orientation;
	root.quaternion.copy( rotation );
	if ( upAxis === 'Z' ) root.quaternion.multiply( Z_UP_TO_Y_UP );
	root.updateMatrixWorld( true );

}

/**
 * Turn the model by 90° (review mode); the turn becomes part of its orientingRotation.
 *
 * @param {Group} root - From `orientModel`.
 */
function turnModel( root ) {

	const orientation = root.userData.orientation;
	orientation.rotation.premultiply( TURN ).normalize();
	orientation.turns += 1;
	applyRotation( root );

}

/**
 * The orientingRotation to save for the asset after turns in review, or null when the model
 * was not turned (or turned full circle).
 *
 * @param {Group} root
 * @return {{x: number, y: number, z: number, w: number}|null}
 */
function turnedRotation( root ) {

	const orientation = root && root.userData.orientation;
	if ( ! orientation || orientation.turns % 4 === 0 ) return null;
	return roundedQuaternion( orientation.rotation );

}

function roundedQuaternion( quaternion ) {

	const round = ( value ) => Math.round( value * 1e6 ) / 1e6 || 0;
	return { x: round( quaternion.x ), y: round( quaternion.y ), z: round( quaternion.z ), w: round( quaternion.w ) };

}

/**
 * Framing points of the model as the orientation group places it: a loader's own bounds
 * (splats) are where the model stands unturned, and are turned with the group.
 *
 * @param {Group} root
 * @param {import('three').Object3D} model
 * @return {Float32Array} x, y, z triples, as `framingPoints` gives them.
 */
function orientedPoints( root, model ) {

	root.updateMatrixWorld( true );
	const thumbnail = model.userData && model.userData.thumbnail;
	const points = framingPoints( model ); // Geometry points are in world space already.
	if ( ! thumbnail || ! thumbnail.bounds ) return points;
	for ( let i = 0; i < points.length; i += 3 ) {

		_point.fromArray( points, i ).applyMatrix4( root.matrixWorld ).toArray( points, i );

	}

	return points;

}

/**
 * `colorSpace: "GAMMA"` says the file's colour values (material and vertex colours) are
 * gamma-encoded, as Poly-era exporters wrote them; three.js lights linear values, so they are
 * converted once (textures already carry their own colour space). "LINEAR" (the default) keeps
 * them as authored.
 *
 * @param {import('three').Object3D} model
 * @param {Object} [params] - The asset's presentation params.
 * @return {'LINEAR'|'GAMMA'} What was applied.
 */
function applyColorSpace( model, params ) {

	const space = params && typeof params.colorSpace === 'string' && params.colorSpace.trim().toUpperCase() === 'GAMMA' ? 'GAMMA' : 'LINEAR';
	if ( space === 'LINEAR' ) return space;
	const materials = new Set();
	const colours = new Set();
	model.traverse( ( node ) => {

		for ( const material of Array.isArray( node.material ) ? node.material : node.material ? [ node.material ] : [] ) {

			materials.add( material );
			if ( material.vertexColors && node.geometry && node.geometry.attributes.color ) colours.add( node.geometry.attributes.color );

		}

	} );
	for ( const material of materials ) {

		if ( material.color ) material.color.convertSRGBToLinear();
		if ( material.emissive ) material.emissive.convertSRGBToLinear();
		material.needsUpdate = true;

	}

	for ( const attribute of colours ) {

		for ( let i = 0; i < attribute.count; i ++ ) {

			attribute.setXYZ( i, toLinear( attribute.getX( i ) ), toLinear( attribute.getY( i ) ), toLinear( attribute.getZ( i ) ) );

		}

		attribute.needsUpdate = true;

	}

	return space;

}

function toLinear( value ) {

	return value < 0.04045 ? value * 0.0773993808 : Math.pow( value * 0.9478672986 + 0.0521327014, 2.4 );

}

export {
	TURN,
	Z_UP_TO_Y_UP,
	applyColorSpace,
	configurePresentation,
	orientModel,
	orientedPoints,
	orientingRotation,
	roundedQuaternion,
	turnModel,
	turnedRotation,
	upAxisOf,
};
