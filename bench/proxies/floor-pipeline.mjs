// The floor proxy with the response body sent through stream.pipeline() (opt-in contender).
import { createFloor } from './floor.mjs';

export const start = (targets) => createFloor(targets, { usePipeline: true });
