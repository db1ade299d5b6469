using Microsoft.Extensions.Options;
using Parley.Server.Accounts;
using Parley.Server.Api;
using Parley.Server.Http;
using Parley.Storage.Accounts;

namespace Parley.Server.Email;

/// <summary>The email calls (docs/email.md) and their wiring; with <c>Email:SmtpHost</c> empty none is mapped (404).</summary>
public static class EmailEndpoints
{
    public static void AddEmail(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(EmailOptions.Section).Get<EmailOptions>() ?? new EmailOptions();
        options.Validate();
        services.Configure<EmailOptions>(configuration.GetSection(EmailOptions.Section));
        if (!options.Enabled)
        {
            return;
        }

        services.AddSingleton<EmailCodeStore>();
        services.AddSingleton<MailOutbox>();
        services.AddHostedService(sp => sp.GetRequiredService<MailOutbox>());
        services.AddSingleton<EmailService>();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Add(EmailJson.Default));
    }

    public static void MapEmail(this IEndpointRouteBuilder app)
    {
        if (!app.ServiceProvider.GetRequiredService<IOptions<EmailOptions>>().Value.Enabled)
        {
            return;
        }

        var me = app.MapGroup("/api/users/me/email").WithTags("Users").RequireAuthorization();
        me.MapPost("", RequestVerificationAsync)
            .WithName("requestEmailVerification").WithSummary("Set an email address and mail it a 6-digit code")
            .Accepts<EmailRequest>("application/json")
            .Returns(202, "A code is mailed to the address (valid 15 minutes, 5 tries).")
            .ProducesErrors(400, 401, 415, 429, 503);
        me.MapPost("/verify", VerifyAsync)
            .WithName("verifyEmail").WithSummary("Confirm the email address with the mailed code")
            .Accepts<EmailCodeRequest>("application/json")
            .Returns<SelfUser>(200, "The caller's profile with `emailVerified: true`.")
            .ProducesErrors(400, 401, 409, 415);

        var reset = app.MapGroup("/api/auth/password-reset").WithTags("Accounts");
        reset.MapPost("", RequestResetAsync)
            .WithName("requestPasswordReset").WithSummary("Mail a password-reset code to a verified address")
            .Accepts<EmailRequest>("application/json")
            .Returns(202, "Always (no account enumeration); a code is mailed only to a verified address.")
            .ProducesErrors(400, 415, 429);
        reset.MapPost("/confirm", ConfirmResetAsync)
            .WithName("confirmPasswordReset").WithSummary("Set a new password with the mailed code")
            .Accepts<PasswordResetConfirmRequest>("application/json")
            .Returns(204, "The password is changed and every session of the account is revoked.")
            .ProducesErrors(400, 415, 429, 503);
    }

    private static async Task<IResult> RequestVerificationAsync(HttpContext context, EmailService email)
    {
        var request = await context.Request.ReadJsonAsync(EmailJson.Default.EmailRequest);
        await email.RequestVerificationAsync(context.Caller(), request, context.RequestAborted);
        return Results.StatusCode(202);
    }

    private static async Task<IResult> VerifyAsync(HttpContext context, EmailService email)
    {
        var request = await context.Request.ReadJsonAsync(EmailJson.Default.EmailCodeRequest);
        var user = await email.VerifyAsync(context.Caller(), request, context.RequestAborted);
        return Results.Json(SelfUser.From(user), EmailJson.Default.SelfUser);
    }

    private static async Task<IResult> RequestResetAsync(HttpContext context, EmailService email)
    {
        var request = await context.Request.ReadJsonAsync(EmailJson.Default.EmailRequest);
        await email.RequestResetAsync(request, AccountEndpoints.ClientAddress(context));
        return Results.StatusCode(202);
    }

    private static async Task<IResult> ConfirmResetAsync(HttpContext context, EmailService email)
    {
        var request = await context.Request.ReadJsonAsync(EmailJson.Default.PasswordResetConfirmRequest);
        await email.ConfirmResetAsync(request, AccountEndpoints.ClientAddress(context), context.RequestAborted);
        return Results.NoContent();
    }
}
