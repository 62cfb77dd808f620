/**
 * The byte-level parts of static/batch_thumbs/loaders/splat.js, in Node: which files are
 * splats (the PLY header sniff), which Spark file type they are, and SPZ v4 unpacked into the
 * gzipped v3 layout Spark 2.2 reads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import { isSplatPly, sniffFileType, spzV4ToV3 } from '../../static/batch_thumbs/loaders/splat.js';
import { LoadError, Reason } from '../../static/batch_thumbs/errors.js';
import { configureFormats } from '../../static/batch_thumbs/loaders/format-table.js';

// The markers the server's format table (icosa/formats.py) sends in the page config.
configureFormats( { types: [], splatPly: { properties: [ 'f_dc_0', 'scale_0', 'rot_0', 'opacity', 'packed_position' ], elements: [ 'chunk' ] } } );

const encoder = new TextEncoder();

function plyHeader( ...lines ) {

	return encoder.encode( [ 'ply', 'format binary_little_endian 1.0', ...lines, 'end_header', '' ].join( '\n' ) );

}

/** A zstd frame of one raw block (RFC 8878): what any decoder reads back unchanged. */
function zstdStored( data ) {

	const frame = new Uint8Array( 4 + 1 + 8 + 3 + data.length );
	const view = new DataView( frame.buffer );
	view.setUint32( 0, 0xfd2fb528, true );
	frame[ 4 ] = 0xe0; // single segment, 8-byte content size
	view.setBigUint64( 5, BigInt( data.length ), true );
	const block = 1 | ( data.length << 3 ); // last block, raw
	frame.set( [ block & 255, ( block >> 8 ) & 255, ( block >> 16 ) & 255 ], 13 );
	frame.set( data, 16 );
	return frame;

}

function spzV4( count, streams ) {

	const frames = streams.map( zstdStored );
	const size = 32 + 16 * streams.length + frames.reduce( ( sum, frame ) => sum + frame.length, 0 );
	const bytes = new Uint8Array( size );
	const view = new DataView( bytes.buffer );
	view.setUint32( 0, 0x5053474e, true );
	view.setUint32( 4, 4, true );
	view.setUint32( 8, count, true );
	bytes[ 13 ] = 12; // fractional bits
	bytes[ 15 ] = streams.length;
	view.setUint32( 16, 32, true );
	let at = 32 + 16 * streams.length;
	streams.forEach( ( stream, i ) => {

		view.setBigUint64( 32 + 16 * i, BigInt( frames[ i ].length ), true );
		view.setBigUint64( 32 + 16 * i + 8, BigInt( stream.length ), true );
		bytes.set( frames[ i ], at );
		at += frames[ i ].length;

	} );
	return bytes;

}

test( 'a PLY is a splat only when its header declares splat properties', () => {

	const inria = plyHeader( 'element vertex 1', 'property float x', 'property float f_dc_0', 'property float opacity', 'property float scale_0', 'property float rot_0' );
	const supersplat = plyHeader( 'element chunk 1', 'property float min_x', 'element vertex 256', 'property uint packed_position' );
	const mesh = plyHeader( 'element vertex 3', 'property float x', 'property float y', 'property float z', 'property uchar red', 'element face 1', 'property list uchar int vertex_indices' );
	const scaleInAComment = plyHeader( 'comment scale_0 is not a property here', 'element vertex 1', 'property float x' );
	assert.equal( isSplatPly( inria.buffer ), true );
	assert.equal( isSplatPly( supersplat.buffer ), true );
	assert.equal( isSplatPly( mesh.buffer ), false );
	assert.equal( isSplatPly( scaleInAComment.buffer ), false );
	assert.equal( isSplatPly( encoder.encode( 'solid cube\n' ).buffer ), false );

} );

test( 'the Spark file type comes from the bytes where the format has a signature', () => {

	const splatPly = plyHeader( 'element vertex 1', 'property float f_dc_0' );
	assert.equal( sniffFileType( splatPly, 'PLY' ), 'ply' );
	assert.equal( sniffFileType( splatPly, 'SPLAT' ), 'ply', 'content wins over the type' );
	assert.equal( sniffFileType( new Uint8Array( [ 0x1f, 0x8b, 8, 0 ] ), 'SPZ' ), 'spz' );
	assert.equal( sniffFileType( encoder.encode( 'NGSP\u0004\u0000\u0000\u0000' ), 'SPZ' ), 'spz' );
	assert.equal( sniffFileType( new Uint8Array( [ 0x50, 0x4b, 3, 4, 0 ] ), 'SOG' ), 'pcsogszip' );
	assert.equal( sniffFileType( encoder.encode( ' {"means": {}}' ), 'SOG' ), 'json' );
	assert.equal( sniffFileType( new Uint8Array( 32 ), 'SPLAT' ), 'splat' );
	assert.equal( sniffFileType( new Uint8Array( 32 ), 'ksplat' ), 'ksplat' );

	assert.throws( () => sniffFileType( new Uint8Array( 32 ), 'SPZ' ), ( error ) => error instanceof LoadError && error.reason === Reason.INVALID_FILE );
	const mesh = plyHeader( 'element vertex 3', 'property float x', 'element face 1', 'property list uchar int vertex_indices' );
	assert.throws( () => sniffFileType( mesh, 'SPLAT_PLY' ), /no Gaussian splat properties/ );

} );

test( 'SPZ v4 becomes gzipped v3: the same header fields and attribute arrays, in order', async () => {

	const count = 2;
	const streams = [
		Uint8Array.from( { length: 9 * count }, ( _, i ) => i ), // positions
		new Uint8Array( [ 200, 201 ] ), // alphas
		Uint8Array.from( { length: 3 * count }, ( _, i ) => 100 + i ), // colours
		Uint8Array.from( { length: 3 * count }, ( _, i ) => 50 + i ), // scales
		Uint8Array.from( { length: 4 * count }, ( _, i ) => 7 * i ), // rotations
	];
	const v3 = gunzipSync( await spzV4ToV3( spzV4( count, streams ) ) );
	const view = new DataView( v3.buffer, v3.byteOffset, v3.byteLength );
	assert.equal( view.getUint32( 0, true ), 0x5053474e );
	assert.equal( view.getUint32( 4, true ), 3 );
	assert.equal( view.getUint32( 8, true ), count );
	assert.deepEqual( [ v3[ 12 ], v3[ 13 ], v3[ 14 ], v3[ 15 ] ], [ 0, 12, 0, 0 ] );
	const body = [];
	for ( const stream of streams ) body.push( ...stream );
	assert.deepEqual( [ ...v3.subarray( 16 ) ], body );

} );

test( 'a truncated SPZ v4 fails as an invalid file', async () => {

	const whole = spzV4( 1, [ new Uint8Array( 9 ), new Uint8Array( 1 ), new Uint8Array( 3 ), new Uint8Array( 3 ), new Uint8Array( 4 ) ] );
	for ( const length of [ 40, whole.length - 3 ] ) {

		await assert.rejects( spzV4ToV3( whole.slice( 0, length ) ), ( error ) => error instanceof LoadError && error.reason === Reason.INVALID_FILE );

	}

} );
