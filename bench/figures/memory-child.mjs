// Figure 7 in a process of its own (started by memoryInChild with --expose-gc): prints its result
// as JSON on stdout. The argument is the JSON of memoryFigure's options.
import { memoryFigure } from './verifier.mjs';

const result = await memoryFigure(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify(result)}\n`);
