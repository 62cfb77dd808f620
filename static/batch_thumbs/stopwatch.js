/**
 * Per-step timings for `result.timings`: each `lap( name )` records the milliseconds since the
 * previous lap (or the start), to 0.1 ms; `sinceLap()` reads that time without recording it.
 *
 * @return {{lap: function(string): void, sinceLap: function(): number, times: Object<string, number>}}
 */
function stopwatch() {

	const times = {};
	let last = performance.now();
	const lap = ( name ) => {

		const now = performance.now();
		times[ name ] = Math.round( ( now - last ) * 10 ) / 10;
		last = now;

	};
	return { lap, sinceLap: () => performance.now() - last, times };

}

export { stopwatch };
