/** The verifier's token and key caches are discovery's bounded LRU (one implementation). */
export { LruCache } from '@aauth-kit/discovery';
