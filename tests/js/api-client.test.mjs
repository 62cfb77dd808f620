/**
 * static/batch_thumbs/api-client.js uploads, in Node against a recording fetch: the capture
 * goes as raw bytes to /thumbnail-image with the other fields in the query string, and only
 * what is not a JPEG/PNG data URL or a Blob, or fields too long for a URL, fall back to base64
 * JSON.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createApiClient } from '../../static/batch_thumbs/api-client.js';

const JPEG = Uint8Array.from( [ 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0xfb, 0x80, 0xff, 0xd9 ] );
const DATA_URL = `data:image/jpeg;base64,${Buffer.from( JPEG ).toString( 'base64' )}`;
const ANSWER = { success: true, version_id: '7' };

/** A client whose fetch records each call and answers from `statuses` (then 200). */
function recordingClient( statuses = [] ) {

	const calls = [];
	const fetchImpl = async ( url, init ) => {

		calls.push( { url: new URL( url ), init } );
		const status = statuses.shift() || 200;
		return new Response( JSON.stringify( status === 200 ? ANSWER : { detail: 'busy' } ), { status } );

	};

	const api = createApiClient( { baseUrl: 'http://gallery.test/api/v1/', getToken: async () => 'tok', fetchImpl, baseDelayMs: 1 } );
	return { api, calls };

}

async function bytesOf( body ) {

	return new Uint8Array( await body.arrayBuffer() );

}

test( 'a data URL capture goes as raw JPEG bytes with the fields in the query', async () => {

	const { api, calls } = recordingClient();
	const settings = { quality: { coverage: 0.4 }, background: '#e8eaed' };
	const answer = await api.uploadThumbnail( '9007199254740993', { thumbnailBase64: DATA_URL, runnerId: 'r1', renderer: 'webgl', renderSettings: settings } );

	assert.deepEqual( answer, ANSWER );
	assert.equal( calls.length, 1 );
	const { url, init } = calls[ 0 ];
	assert.equal( url.pathname, '/api/v1/admin/assets/9007199254740993/thumbnail-image' );
	assert.equal( url.searchParams.get( 'runner_id' ), 'r1' );
	assert.equal( url.searchParams.get( 'renderer' ), 'webgl' );
	assert.deepEqual( JSON.parse( url.searchParams.get( 'render_settings' ) ), settings );
	assert.equal( init.method, 'POST' );
	assert.equal( init.headers[ 'Content-Type' ], 'image/jpeg' );
	assert.equal( init.headers.Authorization, 'Bearer tok' );
	assert.deepEqual( await bytesOf( init.body ), JPEG );

} );

test( 'a Blob capture is sent as it is, with its own type', async () => {

	const { api, calls } = recordingClient();
	const blob = new Blob( [ JPEG ], { type: 'image/png' } );
	await api.uploadThumbnail( '5', { image: blob, runnerId: 'r1' } );

	assert.equal( calls[ 0 ].url.pathname, '/api/v1/admin/assets/5/thumbnail-image' );
	assert.equal( calls[ 0 ].init.headers[ 'Content-Type' ], 'image/png' );
	assert.equal( calls[ 0 ].init.body, blob );
	assert.deepEqual( JSON.parse( calls[ 0 ].url.searchParams.get( 'render_settings' ) ), {} );

} );

test( 'what is not a JPEG/PNG data URL goes as base64 JSON, for the server to judge', async () => {

	for ( const thumbnailBase64 of [ Buffer.from( JPEG ).toString( 'base64' ), 'data:image/gif;base64,R0lGODlh', 'data:image/jpeg;base64,@@@' ] ) {

		const { api, calls } = recordingClient();
		await api.uploadThumbnail( '5', { thumbnailBase64, runnerId: 'r1' } );
		assert.equal( calls[ 0 ].url.pathname, '/api/v1/admin/assets/5/thumbnail' );
		assert.equal( calls[ 0 ].init.headers[ 'Content-Type' ], 'application/json' );
		assert.deepEqual( JSON.parse( calls[ 0 ].init.body ), { thumbnail_base64: thumbnailBase64, runner_id: 'r1', renderer: '', render_settings: {} } );

	}

} );

test( 'a retried raw upload sends the same bytes again', async () => {

	const { api, calls } = recordingClient( [ 503 ] );
	await api.uploadThumbnail( '5', { thumbnailBase64: DATA_URL, runnerId: 'r1' } );

	assert.equal( calls.length, 2 );
	for ( const call of calls ) assert.deepEqual( await bytesOf( call.init.body ), JPEG );

} );

test( 'fields too long for a URL go as base64 JSON, a Blob encoded for it', async () => {

	const renderSettings = { notes: 'x'.repeat( 3000 ) };
	for ( const params of [ { thumbnailBase64: DATA_URL }, { image: new Blob( [ JPEG ], { type: 'image/jpeg' } ) } ] ) {

		const { api, calls } = recordingClient();
		await api.uploadThumbnail( '5', { ...params, runnerId: 'r1', renderSettings } );
		assert.equal( calls[ 0 ].url.pathname, '/api/v1/admin/assets/5/thumbnail' );
		assert.deepEqual( JSON.parse( calls[ 0 ].init.body ), { thumbnail_base64: DATA_URL, runner_id: 'r1', renderer: '', render_settings: renderSettings } );

	}

} );
