/**
 * BatchRun without a browser: a fake API client stands in for the server and a fake pipeline
 * for the renderer. The run keeps no lease bookkeeping; these tests pin what it asks of the
 * server (claims naming the run, one release per unsettled asset, one release-all at the end).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchRun, RunState } from '../../static/batch_thumbs/batch-run.js';

/** A server with a fixed backlog; it records every call and hands each asset out once. */
function fakeApi( ids, { claimError = null } = {} ) {

	const backlog = ids.map( ( id ) => ( { id, name: `asset ${id}` } ) );
	const calls = { claim: [], release: [] };
	return {
		calls,
		async claim( params ) {

			calls.claim.push( params );
			if ( claimError ) throw claimError;
			const assets = backlog.splice( 0, params.count );
			return { assets, lease_seconds: 300, remaining: backlog.length };

		},
		async release( params ) {

			calls.release.push( params );
			return { released: params.assetIds ? params.assetIds.length : 0 };

		},
	};

}

/** A pipeline whose result per asset id is scripted; 'hang' waits until aborted. */
function fakePipeline( script = {} ) {

	const seen = [];
	const process = async ( { asset, signal, options } ) => {

		seen.push( { id: asset.id, runnerId: options.runnerId } );
		const outcome = script[ asset.id ] || { status: 'done' };
		if ( outcome === 'hang' ) {

			await new Promise( ( resolve ) => signal.addEventListener( 'abort', resolve, { once: true } ) );
			return { assetId: asset.id, status: 'skipped', reason: 'aborted', ms: 1 };

		}

		return { assetId: asset.id, ms: 1, ...outcome };

	};

	return { process, seen };

}

function makeRun( api, pipeline, extra = {} ) {

	return new BatchRun( {
		api,
		renderer: null,
		runnerId: 'admin-1-abc',
		runId: 'run-1',
		getSettings: () => ( { batchSize: 2, viewerCompatibleOnly: true, includeFailed: false, timeoutMs: 60000 } ),
		process: pipeline.process,
		...extra,
	} );

}

/** Resolves once the pipeline is working on `id`. */
function whenCurrent( run, id ) {

	return new Promise( ( resolve ) => {

		const check = ( event ) => {

			if ( event.detail.asset.id === id ) {

				run.removeEventListener( 'asset-start', check );
				setImmediate( resolve );

			}

		};

		run.addEventListener( 'asset-start', check );

	} );

}

test( 'claims in batches naming the run until the server has none left, then releases everything in one call', async () => {

	const api = fakeApi( [ '1', '2', '9007199254740993' ] );
	const pipeline = fakePipeline();
	const run = makeRun( api, pipeline );
	await run.start();

	assert.equal( run.state, RunState.FINISHED );
	assert.deepEqual( pipeline.seen.map( ( each ) => each.id ), [ '1', '2', '9007199254740993' ] );
	assert.ok( pipeline.seen.every( ( each ) => each.runnerId === 'admin-1-abc' ) );
	assert.equal( api.calls.claim.length, 3, 'two full batches, then an empty answer' );
	for ( const claim of api.calls.claim ) {

		assert.equal( claim.runId, 'run-1' );
		assert.equal( claim.runnerId, 'admin-1-abc' );
		assert.equal( claim.count, 2 );
		assert.deepEqual( claim.filters, { viewer_compatible_only: true, include_failed: false, force: false, selection: null, asset_ids: null } );

	}

	assert.deepEqual( api.calls.release, [ { runnerId: 'admin-1-abc' } ] );
	assert.equal( run.snapshot().completed, 3 );
	assert.equal( run.snapshot().total, 3 );

} );

test( 'an asset the server hands out again is processed again: the server, not the page, decides', async () => {

	const api = fakeApi( [ '5', '5' ] );
	const pipeline = fakePipeline();
	const run = makeRun( api, pipeline );
	await run.start();
	assert.deepEqual( pipeline.seen.map( ( each ) => each.id ), [ '5', '5' ] );

} );

test( 'skip aborts only the asset in flight, releases its lease at once and the run goes on', async () => {

	const api = fakeApi( [ '1', '2' ] );
	const pipeline = fakePipeline( { 1: 'hang' } );
	const run = makeRun( api, pipeline );
	const done = run.start();
	await whenCurrent( run, '1' );
	assert.equal( run.skip( '2' ), false, 'a late click for another asset skips nothing' );
	assert.equal( run.skip( '1' ), true );
	await done;

	const s = run.snapshot();
	assert.deepEqual( [ s.completed, s.skipped, s.failed ], [ 1, 1, 0 ] );
	assert.deepEqual( api.calls.release, [ { runnerId: 'admin-1-abc', assetIds: [ '1' ] }, { runnerId: 'admin-1-abc' } ] );

} );

test( 'a recorded failure ends its lease on the server; an unrecorded one is released by the run', async () => {

	const api = fakeApi( [ '1', '2', '3' ] );
	const pipeline = fakePipeline( {
		1: { status: 'failed', reason: 'load_error', detail: 'bad file', attempts: 1 },
		2: { status: 'failed', reason: 'load_error', detail: 'bad file', reportError: 'HTTP 503' },
		3: { status: 'failed', reason: 'upload_error', detail: 'HTTP 503', retryable: true },
	} );
	const run = makeRun( api, pipeline );
	await run.start();

	assert.equal( run.snapshot().failed, 3 );
	assert.deepEqual( [ ...run.failures.keys() ], [ '1', '2', '3' ] );
	assert.deepEqual( api.calls.release, [
		{ runnerId: 'admin-1-abc', assetIds: [ '2' ] },
		{ runnerId: 'admin-1-abc', assetIds: [ '3' ] },
		{ runnerId: 'admin-1-abc' },
	] );

} );

test( 'stop aborts the asset in flight without counting it and releases every lease', async () => {

	const api = fakeApi( [ '1', '2', '3' ] );
	const pipeline = fakePipeline( { 2: 'hang' } );
	const run = makeRun( api, pipeline );
	const done = run.start();
	await whenCurrent( run, '2' );
	assert.equal( run.isActive(), true );
	await run.stop();
	await done;

	assert.equal( run.state, RunState.STOPPED );
	assert.equal( run.isActive(), false );
	const s = run.snapshot();
	assert.deepEqual( [ s.completed, s.skipped, s.processed ], [ 1, 0, 1 ] );
	assert.deepEqual( pipeline.seen.map( ( each ) => each.id ), [ '1', '2' ] );
	assert.deepEqual( api.calls.release, [ { runnerId: 'admin-1-abc' } ] );

} );

test( 'a refused token ends the run in error, with a fatal event, and still releases', async () => {

	const api = fakeApi( [ '1', '2' ] );
	const pipeline = fakePipeline( { 1: { status: 'failed', reason: 'upload_rejected', detail: 'Admin access required', fatal: true, httpStatus: 403 } } );
	const run = makeRun( api, pipeline );
	const fatal = [];
	run.addEventListener( 'fatal', ( event ) => fatal.push( event.detail ) );
	await run.start();

	assert.equal( run.state, RunState.ERROR );
	assert.deepEqual( fatal, [ { message: 'Admin access required', status: 403 } ] );
	assert.deepEqual( pipeline.seen.map( ( each ) => each.id ), [ '1' ] );
	assert.deepEqual( api.calls.release, [ { runnerId: 'admin-1-abc' } ] );

} );

test( 'pause holds before the next asset and resume continues', async () => {

	const api = fakeApi( [ '1', '2' ] );
	let release;
	const gate = new Promise( ( resolve ) => ( release = resolve ) );
	const seen = [];
	const process = async ( { asset } ) => {

		seen.push( asset.id );
		if ( asset.id === '1' ) await gate;
		return { assetId: asset.id, status: 'done', ms: 1 };

	};

	const run = makeRun( api, { process } );
	const done = run.start();
	await whenCurrent( run, '1' );
	run.pause();
	release();
	await new Promise( ( resolve ) => setTimeout( resolve, 20 ) );
	assert.equal( run.state, RunState.PAUSED );
	assert.deepEqual( seen, [ '1' ] );
	run.resume();
	await done;
	assert.deepEqual( seen, [ '1', '2' ] );
	assert.equal( run.state, RunState.FINISHED );

} );

test( 'a claim that fails for another reason than the API ends the run with a clear message', async () => {

	const api = fakeApi( [], { claimError: new TypeError( 'fetch failed' ) } );
	const run = makeRun( api, fakePipeline() );
	const logs = [];
	run.addEventListener( 'log', ( event ) => logs.push( event.detail.message ) );
	await run.start();
	assert.equal( run.state, RunState.ERROR );
	assert.ok( logs.includes( 'Could not claim assets: fetch failed' ), logs.join( '\n' ) );

} );

test( 'each run has its own id unless one is given', () => {

	const api = fakeApi( [] );
	const a = new BatchRun( { api, runnerId: 'admin-1', getSettings: () => ( {} ) } );
	const b = new BatchRun( { api, runnerId: 'admin-1', getSettings: () => ( {} ) } );
	assert.notEqual( a.runId, b.runId );
	assert.ok( a.runId.startsWith( 'admin-1.' ) );

} );

test( 'heartbeats the fleet: one before the first claim, then at the server\'s interval, and a goodbye at the end', async () => {

	const api = fakeApi( [ '1', '2', '3' ] );
	const beats = [];
	api.heartbeat = async ( params ) => {

		beats.push( params );
		return { interval_seconds: 3600 };

	};
	const run = makeRun( api, fakePipeline( { 2: { status: 'failed', reason: 'load_error' } } ) );
	await run.start();

	assert.equal( beats.length, 2, 'the first beat, then nothing within the interval, then the goodbye' );
	assert.deepEqual( [ beats[ 0 ].stopping, beats[ 0 ].done, beats[ 0 ].runnerId ], [ false, 0, 'admin-1-abc' ] );
	assert.equal( beats[ 1 ].stopping, true );
	assert.equal( beats[ 1 ].done, 2 );
	assert.equal( beats[ 1 ].failed, 1 );

} );
