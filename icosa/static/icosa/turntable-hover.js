/**
 * Hover previews: a card whose thumbnail has a turntable (an animated WebP of the model
 * turning, `data-turntable` on its image) shows it over the still while pointed at or focused.
 * The animation is fetched on the first hover only, and never when the visitor asks for
 * reduced motion. The URL goes into an attribute, never into markup.
 */

function attach( still ) {

	const card = still.closest( 'a' ) || still.parentElement;
	let overlay = null;
	const show = () => {

		if ( ! overlay ) {

			overlay = document.createElement( 'img' );
			overlay.className = 'turntable';
			overlay.alt = '';
			overlay.setAttribute( 'aria-hidden', 'true' );
			overlay.width = still.width;
			overlay.height = still.height;
			overlay.src = still.dataset.turntable;

		}

		( still.closest( 'picture' ) || still ).after( overlay );

	};

	const hide = () => {

		if ( overlay ) overlay.remove();

	};

	card.addEventListener( 'pointerenter', show );
	card.addEventListener( 'focus', show );
	card.addEventListener( 'pointerleave', hide );
	card.addEventListener( 'blur', hide );

}

if ( ! window.matchMedia( '(prefers-reduced-motion: reduce)' ).matches ) {

	for ( const still of document.querySelectorAll( 'img[data-turntable]' ) ) attach( still );

}
