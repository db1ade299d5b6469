using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Parley.Tests.Infrastructure;

/// <summary>A registered user as the tests hold it: ids and the current token pair.</summary>
public sealed record TestUser(string Id, string Username, string Password, string DeviceId, string AccessToken, string RefreshToken);

/// <summary>Small helpers over the raw HTTP contract, so tests read as the contract does.</summary>
public static class Api
{
    public static string NewUsername(string prefix = "u") => prefix + Guid.NewGuid().ToString("N")[..12];

    public static async Task<JsonNode> Json(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync()) ?? throw new InvalidOperationException("empty body");

    public static async Task<JsonNode> Expect(this Task<HttpResponseMessage> call, HttpStatusCode status)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status} but got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    /// <summary>Asserts a problem+json error with the given status and contract code; returns the body.</summary>
    public static async Task<JsonNode> ExpectProblem(this Task<HttpResponseMessage> call, HttpStatusCode status, string code)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status} {code} but got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(text)!;
        Assert.Equal(code, (string?)body["code"]);
        Assert.Equal((int)status, (int?)body["status"]);
        return body;
    }

    public static async Task<TestUser> RegisterAsync(this ApiHost server, string? username = null, string password = "correct horse battery", string? nickname = null, string? device = null)
    {
        username ??= NewUsername();
        var body = new JsonObject { ["username"] = username, ["password"] = password };
        if (nickname is not null)
        {
            body["nickname"] = nickname;
        }

        if (device is not null)
        {
            body["device"] = device;
        }

        var json = await server.Send(HttpMethod.Post, "/api/auth/register", body: body).Expect(HttpStatusCode.Created);
        return ToUser(json, username, password);
    }

    public static async Task<TestUser> LoginAsync(this ApiHost server, string username, string password, string? device = null)
    {
        var body = new JsonObject { ["username"] = username, ["password"] = password, ["device"] = device };
        var json = await server.Send(HttpMethod.Post, "/api/auth/login", body: body).Expect(HttpStatusCode.OK);
        return ToUser(json, username, password);
    }

    public static Task<HttpResponseMessage> Refresh(this ApiHost server, string refreshToken) =>
        server.Send(HttpMethod.Post, "/api/auth/refresh", body: new JsonObject { ["refreshToken"] = refreshToken });

    public static Task<HttpResponseMessage> Me(this ApiHost server, string accessToken) =>
        server.Send(HttpMethod.Get, "/api/users/me", accessToken);

    public static Task<HttpResponseMessage> PostRaw(this ApiHost server, string path, string body, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        return server.Http.SendAsync(request);
    }

    private static TestUser ToUser(JsonNode json, string username, string password) =>
        new(
            (string)json["user"]!["id"]!,
            username,
            password,
            (string)json["deviceId"]!,
            (string)json["tokens"]!["accessToken"]!,
            (string)json["tokens"]!["refreshToken"]!);

    public static JsonContent AsJson(this object value) => JsonContent.Create(value);
}
