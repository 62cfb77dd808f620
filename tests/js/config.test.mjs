/**
 * config.js: defaults and bounds come from the page configuration, never from the module.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { batchSize, readPageConfig, renderSettings } from '../../static/batch_thumbs/config.js';

const PAGE = {
	apiBase: '/api/v1',
	defaults: { batchSize: 50, width: 1280, height: 800, quality: 0.85, background: '#e8eaed', timeoutSeconds: 60 },
	limits: { size: [ 64, 4096 ], quality: [ 0.1, 1 ], batchSize: [ 1, 100 ] },
};

test( 'missing values take the page defaults', () => {

	assert.deepEqual( renderSettings( {}, PAGE ), { width: 1280, height: 800, quality: 0.85, background: '#e8eaed', timeoutMs: 60000, turntable: 0 } );

} );

test( 'values are clamped to the page bounds and rounded', () => {

	const settings = renderSettings( { width: '99999', height: 10.6, quality: 7, background: 'not a colour', timeoutMs: 2500 }, PAGE );
	assert.deepEqual( settings, { width: 4096, height: 64, quality: 1, background: '#e8eaed', timeoutMs: 2500, turntable: 0 } );
	assert.equal( batchSize( '0', PAGE ), 50, 'zero is unset: the default' );
	assert.equal( batchSize( 250, PAGE ), 100 );

} );

test( 'without a page (Node) there is no configuration and no invented default', () => {

	assert.deepEqual( readPageConfig( null ), {} );
	assert.equal( renderSettings( {}, {} ).width, undefined );

} );
