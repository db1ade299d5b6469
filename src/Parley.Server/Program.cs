using Parley.Server;

var app = await ParleyApp.CreateAsync(args);
await app.RunAsync();
