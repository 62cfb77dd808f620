/**
 * The framing maths of static/batch_thumbs/framing.js, in Node (no browser, no WebGL):
 * every point inside the frame, the frame as tight as the margin allows, bounds that ignore
 * outliers, and the loader's own bounds winning over geometry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Box3, BoxGeometry, Group, InstancedMesh, Matrix4, Mesh, MeshBasicMaterial, Vector3 } from 'three';

import {
	VIEW_ANGLES,
	boxPoints,
	collectPoints,
	computeFraming,
	createCamera,
	framingPoints,
	percentileBox,
	presentationFraming,
} from '../../static/batch_thumbs/framing.js';
import { EmptySceneError } from '../../static/batch_thumbs/errors.js';

const ASPECT = 1280 / 800;

/** Normalised device coordinates of every point seen through the framing's camera. */
function project( points, framing, aspect = ASPECT ) {

	const camera = createCamera( framing, aspect );
	const out = [];
	for ( let i = 0; i < points.length; i += 3 ) {

		out.push( new Vector3( points[ i ], points[ i + 1 ], points[ i + 2 ] ).project( camera ) );

	}

	return out;

}

function randomCloud( count, seed = 1 ) {

	let state = seed;
	const random = () => ( state = ( state * 16807 ) % 2147483647 ) / 2147483647;
	const points = new Float32Array( count * 3 );
	for ( let i = 0; i < count; i ++ ) {

		points[ 3 * i ] = 4 * random() - 1; // a long thin object off the origin
		points[ 3 * i + 1 ] = 0.5 * random() + 2;
		points[ 3 * i + 2 ] = random() - 3;

	}

	return points;

}

test( 'computeFraming keeps every point inside the frame minus the margin, for every view angle', () => {

	const points = randomCloud( 2000 );
	for ( const angle of VIEW_ANGLES ) {

		const margin = 0.06;
		const framing = computeFraming( points, { aspect: ASPECT, angle, margin } );
		const ndc = project( points, framing );
		const fill = 1 - 2 * margin;
		for ( const p of ndc ) {

			assert.ok( Math.abs( p.x ) <= fill + 1e-4 && Math.abs( p.y ) <= fill + 1e-4, `outside at ${JSON.stringify( angle )}: ${p.x}, ${p.y}` );
			assert.ok( p.z > - 1 && p.z < 1, `clipped by near/far at ${JSON.stringify( angle )}` );

		}

		// Tight: the subject touches the margin on one axis, on both sides of it.
		const extentX = Math.max( ...ndc.map( ( p ) => p.x ) ) - Math.min( ...ndc.map( ( p ) => p.x ) );
		const extentY = Math.max( ...ndc.map( ( p ) => p.y ) ) - Math.min( ...ndc.map( ( p ) => p.y ) );
		assert.ok( Math.max( extentX, extentY ) > 2 * fill - 0.01, `loose framing at ${JSON.stringify( angle )}: ${extentX}, ${extentY}` );
		assert.equal( framing.source, 'auto' );

	}

} );

test( 'computeFraming looks from the requested direction', () => {

	const points = boxPoints( new Box3( new Vector3( - 1, - 1, - 1 ), new Vector3( 1, 1, 1 ) ) );
	const front = computeFraming( points, { aspect: 1, angle: { azimuth: 0, elevation: 0 } } );
	assert.ok( front.position[ 2 ] > 2 && Math.abs( front.position[ 0 ] ) < 1e-6 && Math.abs( front.position[ 1 ] ) < 1e-6 );
	const side = computeFraming( points, { aspect: 1, angle: { azimuth: 90, elevation: 0 } } );
	assert.ok( side.position[ 0 ] > 2 && Math.abs( side.position[ 2 ] ) < 1e-6 );
	const top = computeFraming( points, { aspect: 1, angle: { azimuth: 0, elevation: 90 } } );
	assert.ok( top.position[ 1 ] > 2 && top.up.every( Number.isFinite ) );

} );

test( 'computeFraming refuses an empty or zero-size set of points', () => {

	assert.throws( () => computeFraming( new Float32Array( 0 ), { aspect: 1 } ), EmptySceneError );
	assert.throws( () => computeFraming( new Float32Array( [ 1, 2, 3, 1, 2, 3 ] ), { aspect: 1 } ), EmptySceneError );

} );

test( 'presentationFraming uses the asset camera and sets near/far around the model', () => {

	const points = boxPoints( new Box3( new Vector3( - 1, - 1, - 1 ), new Vector3( 1, 1, 1 ) ) );
	const framing = presentationFraming( { position: [ 0, 0, 10 ], target: [ 0, 0, 0 ], fov: 50 }, points );
	assert.deepEqual( framing.position, [ 0, 0, 10 ] );
	assert.equal( framing.fov, 50 );
	assert.equal( framing.source, 'presentation' );
	assert.ok( framing.near > 0 && framing.near <= 9 && framing.far >= 11 );
	for ( const p of project( points, framing, 1 ) ) assert.ok( p.z > - 1 && p.z < 1 );

	assert.equal( presentationFraming( null, points ), null );
	assert.equal( presentationFraming( { position: [ 0, 0, 10 ] }, points ), null );
	assert.equal( presentationFraming( { position: [ 0, 'x', 10 ], target: [ 0, 0, 0 ] }, points ), null );
	assert.equal( presentationFraming( { position: [ 0, 0, 0 ], target: [ 0, 0, 0 ] }, points ), null );
	assert.equal( presentationFraming( { position: [ 0, 0, - 10 ], target: [ 0, 0, - 20 ] }, points ), null, 'model behind the camera' );
	assert.equal( presentationFraming( { position: [ 0, 0, 10 ], target: [ 0, 0, 0 ], fov: 400 }, points ).fov, 35 );

} );

test( 'collectPoints returns world-space points, transforms and instances applied', () => {

	const root = new Group();
	const mesh = new Mesh( new BoxGeometry( 2, 2, 2 ), new MeshBasicMaterial() );
	mesh.position.set( 10, 0, 0 );
	mesh.scale.set( 2, 1, 1 );
	root.add( mesh );
	const box = new Box3().setFromArray( collectPoints( root ) );
	assert.deepEqual( box.min.toArray(), [ 8, - 1, - 1 ] );
	assert.deepEqual( box.max.toArray(), [ 12, 1, 1 ] );

	const instanced = new InstancedMesh( new BoxGeometry( 1, 1, 1 ), new MeshBasicMaterial(), 2 );
	instanced.setMatrixAt( 0, new Matrix4().makeTranslation( - 5, 0, 0 ) );
	instanced.setMatrixAt( 1, new Matrix4().makeTranslation( 5, 0, 0 ) );
	const instancedBox = new Box3().setFromArray( collectPoints( instanced ) );
	assert.deepEqual( instancedBox.min.toArray(), [ - 5.5, - 0.5, - 0.5 ] );
	assert.deepEqual( instancedBox.max.toArray(), [ 5.5, 0.5, 0.5 ] );

} );

test( 'collectPoints caps the number of points and refuses nothing to draw', () => {

	const big = new Mesh( new BoxGeometry( 1, 1, 1, 100, 100, 100 ), new MeshBasicMaterial() );
	assert.ok( collectPoints( big, 1000 ).length / 3 <= 1000 );
	assert.throws( () => collectPoints( new Group() ), EmptySceneError );
	const hidden = new Mesh( new BoxGeometry( 1, 1, 1 ), new MeshBasicMaterial() );
	hidden.visible = false;
	assert.throws( () => collectPoints( hidden ), EmptySceneError );

} );

test( 'percentileBox ignores a few far outliers that a bounding box would frame', () => {

	const cloud = randomCloud( 5000 );
	const points = new Float32Array( cloud.length + 3 * 20 );
	points.set( cloud );
	for ( let i = 0; i < 20; i ++ ) points.set( [ 500 + i, - 300, 900 ], cloud.length + 3 * i );
	const full = new Box3().setFromArray( points );
	points[ 0 ] = NaN;

	const robust = percentileBox( points, { trim: 0.01 } );
	assert.ok( robust.max.x < 3.1 && robust.min.x > - 1.1, robust.max.x );
	assert.ok( robust.min.y > 1.9 && robust.max.z < - 1.9 );
	assert.ok( full.max.x > 500 );
	// Still nearly the whole object.
	assert.ok( robust.max.x - robust.min.x > 3.8 );
	assert.ok( percentileBox( new Float32Array( [ NaN, 0, 0 ] ) ).isEmpty() );

} );

test( 'boxPoints gives the eight corners and refuses an empty box', () => {

	const points = boxPoints( new Box3( new Vector3( 1, 2, 3 ), new Vector3( 4, 5, 6 ) ) );
	assert.equal( points.length, 24 );
	const box = new Box3().setFromArray( points );
	assert.deepEqual( [ box.min.toArray(), box.max.toArray() ], [ [ 1, 2, 3 ], [ 4, 5, 6 ] ] );
	assert.throws( () => boxPoints( new Box3() ), EmptySceneError );
	assert.throws( () => boxPoints( new Box3( new Vector3( 1, 1, 1 ), new Vector3( 1, 1, 1 ) ) ), EmptySceneError );

} );

test( "framingPoints prefers the loader's bounds over the geometry", () => {

	const model = new Group();
	model.add( new Mesh( new BoxGeometry( 100, 100, 100 ), new MeshBasicMaterial() ) );
	assert.equal( new Box3().setFromArray( framingPoints( model ) ).max.x, 50 );
	model.userData.thumbnail = { bounds: new Box3( new Vector3( - 1, - 1, - 1 ), new Vector3( 1, 1, 1 ) ) };
	assert.equal( new Box3().setFromArray( framingPoints( model ) ).max.x, 1 );
	assert.throws( () => framingPoints( new Group() ), EmptySceneError );

} );
