/**
 * The server's format table (`icosa/formats.py`), as the page config's `formats` carries it:
 * preference order, which types are drawn, and the PLY header markers of a Gaussian splat.
 * The page keeps no list of its own; until configured, nothing is ranked or sniffed.
 */

/** The neutral colour of a mesh whose file gives it none (STL, PLY, default materials). */
const UNTEXTURED_COLOR = 0x8c95a5;

const _table = { byType: new Map(), splatPly: { properties: [], elements: [] } };

/**
 * @param {{types: {type: string, label: string, drawable: boolean}[], splatPly: {properties: string[], elements: string[]}}} formats
 */
function configureFormats( formats ) {

	_table.byType.clear();
	( ( formats && formats.types ) || [] ).forEach( ( entry, rank ) => _table.byType.set( String( entry.type ).toUpperCase(), { ...entry, rank } ) );
	_table.splatPly = ( formats && formats.splatPly ) || { properties: [], elements: [] };

}

/**
 * @param {string} formatType
 * @return {({type: string, label: string, drawable: boolean, rank: number})|null}
 */
function formatEntry( formatType ) {

	return _table.byType.get( String( formatType || '' ).toUpperCase() ) || null;

}

/**
 * Whether a PLY header (the text up to `end_header`) declares a Gaussian splat.
 *
 * @param {string} header
 * @return {boolean}
 */
function isSplatPlyHeader( header ) {

	const { properties, elements } = _table.splatPly;
	for ( const line of header.split( /\r?\n/ ) ) {

		const words = line.trim().split( /\s+/ );
		if ( words[ 0 ] === 'element' && elements.includes( words[ 1 ] ) ) return true;
		if ( words[ 0 ] === 'property' && properties.includes( words[ words.length - 1 ] ) ) return true;

	}

	return false;

}

export { configureFormats, formatEntry, isSplatPlyHeader, UNTEXTURED_COLOR };
