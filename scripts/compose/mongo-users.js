// Run once by the mongo image's entrypoint, as the root user, when the reviews store's data is new:
// one user per locus process that reads it, each limited to the reviews database. Passwords come
// from the container's environment (docker-compose.yml), never from the repository.
const reviews = db.getSiblingDB('reviews');

// The reviews service and the reviews relay: documents, indexes and the outbox of that one database.
reviews.createUser({
  user: 'reviews',
  pwd: process.env.LOCUS_MONGO_REVIEWS_PASSWORD,
  roles: [{ role: 'readWrite', db: 'reviews' }],
});

// `locus verify`: reads the reviews to compare them with the views, and writes nothing.
reviews.createUser({
  user: 'verify',
  pwd: process.env.LOCUS_MONGO_VERIFY_PASSWORD,
  roles: [{ role: 'read', db: 'reviews' }],
});
