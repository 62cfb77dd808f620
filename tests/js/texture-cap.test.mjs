/**
 * The texture cap of static/batch_thumbs/texture-cap.js, in Node: the cap derived from the
 * output size or set by the page, the capped size keeping the aspect ratio, and textures the
 * cap must leave alone (data and compressed textures). Downscaling real images is tested in
 * the browser (tests/browser/test_texture_cap.py).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CompressedTexture, DataTexture, Texture } from 'three';

import { capTextures, cappedSize, textureCap } from '../../static/batch_thumbs/texture-cap.js';

test( 'the cap is the next power of two at or above the longest output side', () => {

	assert.equal( textureCap( undefined, 1280, 800 ), 2048 );
	assert.equal( textureCap( null, 640, 400 ), 1024 );
	assert.equal( textureCap( '', 1024, 1024 ), 1024 );
	assert.equal( textureCap( undefined, 800, 1280 ), 2048 );
	assert.equal( textureCap( 'not a number', 1280, 800 ), 2048 );
	assert.equal( textureCap( - 5, 1280, 800 ), 2048 );

} );

test( 'a page setting wins; 0 or false turns the cap off', () => {

	assert.equal( textureCap( 512, 1280, 800 ), 512 );
	assert.equal( textureCap( '3000', 1280, 800 ), 3000 );
	assert.equal( textureCap( 0, 1280, 800 ), Infinity );
	assert.equal( textureCap( false, 1280, 800 ), Infinity );
	assert.equal( textureCap( '0', 1280, 800 ), Infinity );

} );

test( 'the capped size keeps the aspect ratio and never grows an image', () => {

	assert.deepEqual( cappedSize( 4096, 4096, 2048 ), { width: 2048, height: 2048 } );
	assert.deepEqual( cappedSize( 8192, 2048, 2048 ), { width: 2048, height: 512 } );
	assert.deepEqual( cappedSize( 1000, 3000, 1024 ), { width: 341, height: 1024 } );
	assert.deepEqual( cappedSize( 2048, 2048, 2048 ), { width: 2048, height: 2048 } );
	assert.deepEqual( cappedSize( 300, 200, 2048 ), { width: 300, height: 200 } );
	assert.deepEqual( cappedSize( 100000, 1, 2048 ), { width: 2048, height: 1 } );
	assert.deepEqual( cappedSize( 4096, 4096, Infinity ), { width: 4096, height: 4096 } );

} );

test( 'data, compressed and image-less textures are left alone', async () => {

	const data = new DataTexture( new Uint8Array( 4096 * 4096 * 4 ), 4096, 4096 );
	const compressed = new CompressedTexture( [ { data: new Uint8Array( 16 ), width: 4096, height: 4096 } ], 4096, 4096 );
	const empty = new Texture();
	assert.equal( await capTextures( [ data, compressed, empty ], 1024 ), 0 );
	assert.equal( data.image.width, 4096 );
	assert.equal( compressed.image.width, 4096 );

} );

test( 'no cap, no work', async () => {

	assert.equal( await capTextures( [ new Texture() ], Infinity ), 0 );
	assert.equal( await capTextures( [], 2048 ), 0 );

} );
