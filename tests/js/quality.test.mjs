/**
 * The quality record of static/batch_thumbs/capture.js and the presentation params of
 * presentation.js, in Node: subject mask, margin, luminance and contrast against the
 * background, the flags the thresholds give; orientingRotation, up axis, Turn and colorSpace.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BoxGeometry, BufferAttribute, Mesh, MeshStandardMaterial, Quaternion, Vector3 } from 'three';

import { measureSubject, qualityRecord } from '../../static/batch_thumbs/capture.js';
import {
	applyColorSpace,
	configurePresentation,
	orientModel,
	orientedPoints,
	orientingRotation,
	turnModel,
	turnedRotation,
	upAxisOf,
} from '../../static/batch_thumbs/presentation.js';

const THRESHOLDS = { darkBrightness: 0.12, minContrast: 0.08, minCoverage: 0.02 };
const BACKGROUND = '#e8eaed';

/** A width × height image in the background colour with a filled rectangle in `colour`. */
function image( width, height, rect, colour, background = [ 0xe8, 0xea, 0xed ] ) {

	const data = new Uint8ClampedArray( width * height * 4 );
	for ( let y = 0; y < height; y ++ ) {

		for ( let x = 0; x < width; x ++ ) {

			const inside = rect && x >= rect.x && x < rect.x + rect.w && y >= rect.y && y < rect.y + rect.h;
			data.set( [ ...( inside ? colour : background ), 255 ], 4 * ( y * width + x ) );

		}

	}

	return { data, width, height };

}

test( 'a black silhouette is flagged dark_subject, a coloured subject is not flagged', () => {

	const dark = qualityRecord( measureSubject( image( 100, 50, { x: 20, y: 10, w: 60, h: 30 }, [ 5, 5, 5 ] ), BACKGROUND ), THRESHOLDS );
	assert.deepEqual( dark.flags, [ 'dark_subject' ] );
	assert.equal( dark.coverage, 0.36 );
	assert.equal( dark.margin, 0.2 ); // 10 of 50 rows above and below, 20 of 100 columns each side.
	assert.ok( dark.luminance < 0.03 );
	assert.ok( dark.contrast > 0.8 );

	const red = qualityRecord( measureSubject( image( 100, 50, { x: 20, y: 10, w: 60, h: 30 }, [ 220, 30, 30 ] ), BACKGROUND ), THRESHOLDS );
	assert.deepEqual( red.flags, [] );
	assert.ok( red.luminance > 0.15 && red.contrast > 0.3 );

} );

test( 'a saturated blue is dark by luma but not black: it is not flagged', () => {

	const blue = measureSubject( image( 100, 50, { x: 20, y: 10, w: 60, h: 30 }, [ 0, 0, 255 ] ), BACKGROUND );
	assert.ok( blue.luminance < 0.08 );
	assert.deepEqual( qualityRecord( blue, THRESHOLDS ).flags, [] );

} );

test( 'a subject nearly the background colour, a speck and a subject at the edge are flagged', () => {

	const washed = measureSubject( image( 100, 50, { x: 20, y: 10, w: 60, h: 30 }, [ 250, 250, 250 ] ), BACKGROUND );
	assert.deepEqual( qualityRecord( washed, THRESHOLDS ).flags, [ 'low_contrast' ] );

	const speck = measureSubject( image( 100, 50, { x: 50, y: 20, w: 5, h: 5 }, [ 30, 60, 230 ] ), BACKGROUND );
	assert.deepEqual( qualityRecord( speck, THRESHOLDS ).flags, [ 'tiny_subject' ] );

	const cut = measureSubject( image( 100, 50, { x: 0, y: 10, w: 60, h: 30 }, [ 30, 60, 230 ] ), BACKGROUND );
	assert.equal( cut.clipped, true );
	assert.deepEqual( qualityRecord( cut, THRESHOLDS ).flags, [ 'clipped' ] );

} );

test( 'without thresholds only clipped is flagged; an empty frame measures zero', () => {

	const dark = measureSubject( image( 40, 20, { x: 5, y: 5, w: 10, h: 10 }, [ 0, 0, 0 ] ), BACKGROUND );
	assert.deepEqual( qualityRecord( dark, null ).flags, [] );
	assert.deepEqual( measureSubject( image( 40, 20, null ), BACKGROUND ), { coverage: 0, margin: 0, luminance: 0, brightness: 0, contrast: 0, clipped: false } );

} );

test( 'orientingRotation is read, normalised and refused when unusable', () => {

	const q = orientingRotation( { orientingRotation: { x: 0, y: 0, z: 2, w: 0 } } );
	assert.deepEqual( [ q.x, q.y, q.z, q.w ], [ 0, 0, 1, 0 ] );
	assert.equal( orientingRotation( { orientingRotation: { x: 'a', y: 0, z: 0, w: 1 } } ), null );
	assert.equal( orientingRotation( { orientingRotation: { x: 0, y: 0, z: 0, w: 0 } } ), null );
	assert.equal( orientingRotation( {} ), null );

} );

test( 'the up axis decides only for configured formats; the asset wins over the default', () => {

	configurePresentation( { upAxis: { PLY: 'Y', obj: 'Z' } } );
	assert.equal( upAxisOf( 'PLY', {} ), 'Y' );
	assert.equal( upAxisOf( 'PLY', { upAxis: 'z' } ), 'Z' );
	assert.equal( upAxisOf( 'OBJ', {} ), 'Z' );
	assert.equal( upAxisOf( 'OBJ', { upAxis: 'sideways' } ), 'Z' );
	assert.equal( upAxisOf( 'STL', { upAxis: 'Y' } ), null );

} );

function tallBox() {

	return new Mesh( new BoxGeometry( 1, 4, 1 ), new MeshStandardMaterial() );

}

function extent( points ) {

	const min = new Vector3( Infinity, Infinity, Infinity ), max = new Vector3( - Infinity, - Infinity, - Infinity ), v = new Vector3();
	for ( let i = 0; i < points.length; i += 3 ) {

		v.fromArray( points, i );
		min.min( v );
		max.max( v );

	}

	return max.sub( min ).round();

}

test( 'orientingRotation turns the model before framing; a Z-up PLY stands upright', () => {

	configurePresentation( { upAxis: { PLY: 'Y' } } );
	const quarter = new Quaternion().setFromAxisAngle( new Vector3( 0, 0, 1 ), Math.PI / 2 );
	const box = tallBox();
	const root = orientModel( box, { presentation_params: { orientingRotation: { x: quarter.x, y: quarter.y, z: quarter.z, w: quarter.w } } }, 'GLB' );
	assert.deepEqual( extent( orientedPoints( root, box ) ).toArray(), [ 4, 1, 1 ] );

	const lying = new Mesh( new BoxGeometry( 1, 1, 4 ), new MeshStandardMaterial() );
	const upright = orientModel( lying, { presentation_params: { upAxis: 'Z' } }, 'PLY' );
	assert.deepEqual( extent( orientedPoints( upright, lying ) ).toArray(), [ 1, 4, 1 ] );

} );

test( 'Turn tips the model by 90 degrees and becomes the rotation to save; four turns save nothing', () => {

	const lying = new Mesh( new BoxGeometry( 1, 1, 4 ), new MeshStandardMaterial() );
	const root = orientModel( lying, { presentation_params: {} }, 'GLB' );
	assert.equal( turnedRotation( root ), null );
	turnModel( root );
	assert.deepEqual( extent( orientedPoints( root, lying ) ).toArray(), [ 1, 4, 1 ] );
	const saved = turnedRotation( root );
	assert.ok( Math.abs( Math.hypot( saved.x, saved.y, saved.z, saved.w ) - 1 ) < 1e-5 );
	assert.ok( Math.abs( saved.x + Math.SQRT1_2 ) < 1e-5 && Math.abs( saved.w - Math.SQRT1_2 ) < 1e-5 );
	for ( let i = 0; i < 3; i ++ ) turnModel( root );
	assert.equal( turnedRotation( root ), null );

} );

test( 'a loader\'s own bounds are turned with the model', () => {

	const box = tallBox();
	box.geometry.computeBoundingBox();
	box.userData.thumbnail = { bounds: box.geometry.boundingBox.clone() };
	const root = orientModel( box, { presentation_params: {} }, 'SPZ' );
	turnModel( root );
	assert.deepEqual( extent( orientedPoints( root, box ) ).toArray(), [ 1, 1, 4 ] );

} );

test( 'colorSpace GAMMA converts material and vertex colours to linear; LINEAR keeps them', () => {

	const material = new MeshStandardMaterial( { color: 0x808080, vertexColors: true } );
	const mesh = new Mesh( new BoxGeometry(), material );
	mesh.geometry.setAttribute( 'color', new BufferAttribute( new Float32Array( mesh.geometry.attributes.position.count * 3 ).fill( 0.5 ), 3 ) );
	const before = material.color.r;
	assert.equal( applyColorSpace( mesh, { colorSpace: 'LINEAR' } ), 'LINEAR' );
	assert.equal( material.color.r, before );
	assert.equal( applyColorSpace( mesh, { colorSpace: 'gamma' } ), 'GAMMA' );
	assert.ok( Math.abs( material.color.r - Math.pow( ( before + 0.055 ) / 1.055, 2.4 ) ) < 1e-6 );
	assert.ok( Math.abs( mesh.geometry.attributes.color.getX( 0 ) - 0.214 ) < 1e-3 );

} );
