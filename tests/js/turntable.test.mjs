/**
 * The turntable orbit of static/batch_thumbs/turntable.js, in Node: N cameras around the up
 * axis at one distance, every point inside every frame, and the frame count a run asks for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Vector3 } from 'three';

import { VIEW_ANGLES, computeFraming, createCamera } from '../../static/batch_thumbs/framing.js';
import { turntableFrames, turntablePoses } from '../../static/batch_thumbs/turntable.js';

const ASPECT = 512 / 320;
const MARGIN = 0.06;

/** A long, thin, off-centre object: its width differs a lot from one side to the other. */
function plank( count = 3000, seed = 7 ) {

	let state = seed;
	const random = () => ( state = ( state * 16807 ) % 2147483647 ) / 2147483647;
	const points = new Float32Array( count * 3 );
	for ( let i = 0; i < count; i ++ ) {

		points[ 3 * i ] = 6 * random() + 3;
		points[ 3 * i + 1 ] = random() - 2;
		points[ 3 * i + 2 ] = 0.5 * random() - 1;

	}

	return points;

}

function ndc( points, framing ) {

	const camera = createCamera( framing, ASPECT );
	const out = [];
	for ( let i = 0; i < points.length; i += 3 ) out.push( new Vector3( points[ i ], points[ i + 1 ], points[ i + 2 ] ).project( camera ) );
	return out;

}

const still = ( points ) => computeFraming( points, { aspect: ASPECT, angle: VIEW_ANGLES[ 0 ] } );

test( 'turntablePoses: N cameras on one horizontal circle around the model, evenly spaced, starting at the still', () => {

	const points = plank();
	const framing = still( points );
	const poses = turntablePoses( points, framing, { frames: 12, aspect: ASPECT } );
	assert.equal( poses.length, 12 );
	const center = poses[ 0 ].target;
	for ( const pose of poses ) assert.deepEqual( pose.target, center );
	const offsets = poses.map( ( pose ) => pose.position.map( ( v, k ) => v - center[ k ] ) );
	const distances = offsets.map( ( o ) => Math.hypot( ...o ) );
	for ( const d of distances ) assert.ok( Math.abs( d - distances[ 0 ] ) < 1e-6 * distances[ 0 ], 'one distance for all frames' );
	for ( const o of offsets ) assert.ok( Math.abs( o[ 1 ] - offsets[ 0 ][ 1 ] ) < 1e-6 * distances[ 0 ], 'one height for all frames' );

	const azimuths = offsets.map( ( o ) => Math.atan2( o[ 0 ], o[ 2 ] ) );
	for ( let i = 1; i < azimuths.length; i ++ ) {

		const step = ( ( azimuths[ i ] - azimuths[ i - 1 ] ) * 180 / Math.PI + 360 ) % 360;
		assert.ok( Math.abs( step - 30 ) < 1e-6, `step ${step}` );

	}

	// Frame 0 looks from the still's direction (elevation and azimuth).
	const view = framing.position.map( ( v, k ) => v - framing.target[ k ] );
	const angle = ( a, b ) => Math.acos( a.reduce( ( s, v, k ) => s + v * b[ k ], 0 ) / Math.hypot( ...a ) / Math.hypot( ...b ) );
	assert.ok( angle( view, offsets[ 0 ] ) < 1e-6 );

} );

test( 'turntablePoses: every point is inside every frame minus the margin, unclipped, and the tightest frame touches it', () => {

	const points = plank();
	for ( const frames of [ 2, 8, 36 ] ) {

		const poses = turntablePoses( points, still( points ), { frames, aspect: ASPECT, margin: MARGIN } );
		let widest = 0;
		for ( const pose of poses ) {

			for ( const p of ndc( points, pose ) ) {

				assert.ok( Math.abs( p.x ) <= 1 - 2 * MARGIN + 1e-4 && Math.abs( p.y ) <= 1 - 2 * MARGIN + 1e-4, `outside: ${p.x}, ${p.y}` );
				assert.ok( p.z > - 1 && p.z < 1, 'clipped by near/far' );
				widest = Math.max( widest, Math.abs( p.x ), Math.abs( p.y ) );

			}

		}

		assert.ok( widest > 1 - 2 * MARGIN - 0.01, `${frames} frames: the subject fills the tightest frame (${widest})` );

	}

} );

test( 'turntablePoses: a top-down still orbits at the steepest allowed elevation, not in place', () => {

	const points = plank();
	const framing = computeFraming( points, { aspect: ASPECT, angle: { azimuth: 0, elevation: 89 } } );
	const poses = turntablePoses( points, framing, { frames: 4, aspect: ASPECT } );
	for ( const pose of poses ) {

		const o = pose.position.map( ( v, k ) => v - pose.target[ k ] );
		const elevation = Math.asin( o[ 1 ] / Math.hypot( ...o ) ) * 180 / Math.PI;
		assert.ok( Math.abs( elevation - 60 ) < 1e-6, `elevation ${elevation}` );

	}

	assert.notDeepEqual( poses[ 0 ].position, poses[ 2 ].position );

} );

test( 'turntablePoses: nothing to orbit gives no poses', () => {

	assert.deepEqual( turntablePoses( new Float32Array( 0 ), { position: [ 0, 0, 1 ], target: [ 0, 0, 0 ], fov: 35 }, { frames: 8, aspect: ASPECT } ), [] );
	assert.deepEqual( turntablePoses( plank(), still( plank() ), { frames: 0, aspect: ASPECT } ), [] );

} );

test( 'turntableFrames: off unless asked, the page default when unset, clamped to the page bounds', () => {

	const config = { turntable: { frames: 0, limits: [ 2, 72 ] } };
	assert.equal( turntableFrames( undefined, config ), 0 );
	assert.equal( turntableFrames( '', config ), 0 );
	assert.equal( turntableFrames( 0, config ), 0 );
	assert.equal( turntableFrames( - 5, config ), 0 );
	assert.equal( turntableFrames( 'lots', config ), 0 );
	assert.equal( turntableFrames( '8', config ), 8 );
	assert.equal( turntableFrames( 1, config ), 2 );
	assert.equal( turntableFrames( 500, config ), 72 );
	assert.equal( turntableFrames( undefined, { turntable: { frames: 24, limits: [ 2, 72 ] } } ), 24 );
	assert.equal( turntableFrames( 0, { turntable: { frames: 24, limits: [ 2, 72 ] } } ), 0, '0 turns a default off' );
	assert.equal( turntableFrames( undefined, {} ), 0, 'no page configuration: off' );

} );
