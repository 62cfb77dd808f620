import test from 'node:test';
import assert from 'node:assert/strict';

import { stopwatch } from '../../static/batch_thumbs/stopwatch.js';

const busy = ( ms ) => {

	const until = performance.now() + ms;
	while ( performance.now() < until );

};

test( 'each lap records the time since the one before, and sinceLap records nothing', () => {

	const { lap, sinceLap, times } = stopwatch();
	busy( 20 );
	lap( 'first' );
	busy( 5 );
	lap( 'second' );
	busy( 10 );
	const waited = sinceLap();
	assert.deepEqual( Object.keys( times ), [ 'first', 'second' ] );
	assert.ok( times.first >= 20, `first ${times.first}` );
	assert.ok( times.second >= 5, `second ${times.second}` );
	assert.ok( waited >= 10, `sinceLap ${waited}` );
	assert.equal( times.first, Math.round( times.first * 10 ) / 10 );

} );
