export * from './types';
export * from './errors';
export * from './validate';
export * from './client';
export * from './impairment';
