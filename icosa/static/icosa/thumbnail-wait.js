/**
 * Placeholders that turn into thumbnails: every `[data-thumbnail-wait]` element (an asset
 * shown without a thumbnail, which the server has just queued as wanted) is swapped for an
 * image once `thumbnail-status/` says one exists.
 *
 * One request per round for the whole page: every second for the first half minute (a
 * watching runner usually delivers by then), then backing off to 20 s, giving up after 15
 * minutes, and none while the tab is hidden. Names come from data attributes and go
 * into attributes only, never into markup.
 */

const FIRST_DELAY_MS = 1000;
const FAST_FOR_MS = 30000;
const MAX_DELAY_MS = 20000;
const GROWTH = 1.5;
const GIVE_UP_MS = 15 * 60 * 1000;

function waiting() {

	return Array.from( document.querySelectorAll( '[data-thumbnail-wait]' ) );

}

function swapIn( placeholder, links ) {

	const src = placeholder.dataset.kind === 'preview' ? ( links.preview_url || links.thumbnail_url ) : links.thumbnail_url;
	if ( ! src ) return;
	const img = document.createElement( 'img' );
	img.src = src;
	img.alt = placeholder.dataset.alt || '';
	img.className = placeholder.dataset.kind === 'preview' ? 'preview' : '';
	img.dataset.thumbnailArrived = '';
	placeholder.replaceWith( img );

}

async function poll( statusUrl, placeholders ) {

	const tokens = [ ...new Set( placeholders.map( ( el ) => el.dataset.thumbnailWait ) ) ];
	const url = new URL( statusUrl, window.location.href );
	url.searchParams.set( 'u', tokens.join( ',' ) );
	const response = await fetch( url, { credentials: 'same-origin', headers: { Accept: 'application/json' } } );
	if ( ! response.ok ) return;
	const { ready } = await response.json();
	for ( const placeholder of placeholders ) {

		const links = ready[ placeholder.dataset.thumbnailWait ];
		if ( links ) swapIn( placeholder, links );

	}

}

function start() {

	const meta = document.querySelector( 'meta[name="thumbnail-status-url"]' );
	if ( ! meta || waiting().length === 0 ) return;
	const statusUrl = meta.content;
	const started = Date.now();
	let delay = FIRST_DELAY_MS;
	let timer = null;

	const schedule = () => {

		clearTimeout( timer );
		if ( document.hidden || Date.now() - started > GIVE_UP_MS ) return;
		timer = setTimeout( round, delay );

	};

	const round = async () => {

		const placeholders = waiting();
		if ( placeholders.length === 0 ) return;
		try {

			await poll( statusUrl, placeholders );

		} catch ( error ) {

			// A network hiccup: try again later, the back-off spaces the retries.

		}

		if ( Date.now() - started > FAST_FOR_MS ) delay = Math.min( MAX_DELAY_MS, delay * GROWTH );
		schedule();

	};

	document.addEventListener( 'visibilitychange', () => {

		if ( ! document.hidden ) {

			delay = FIRST_DELAY_MS;
			schedule();

		}

	} );
	schedule();

}

start();
